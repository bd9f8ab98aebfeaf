"""Seam for Temporal Worker Versioning (a later issue; deliberately OFF for now).

When it is switched on, workers run as versions of one Worker Deployment (rainbow deployment, PINNED
sequences; notes/temporal.md §0.3 and §8). The names follow temporal-worker-controller, which injects
TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_WORKER_BUILD_ID, so the same image works with or without it.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from temporalio.worker import WorkerDeploymentConfig

DEFAULT_DEPLOYMENT_NAME = "keptn-control-plane"


def build_id() -> str:
    """The build this process runs: TEMPORAL_WORKER_BUILD_ID if set, else the package version."""
    explicit = os.environ.get("TEMPORAL_WORKER_BUILD_ID")
    if explicit:
        return explicit
    try:
        return version("keptn-temporal")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "dev"


def deployment_name() -> str:
    return os.environ.get("TEMPORAL_DEPLOYMENT_NAME") or DEFAULT_DEPLOYMENT_NAME


def deployment_config() -> WorkerDeploymentConfig | None:
    """None = unversioned worker. Returning a config here (with every workflow declaring a
    versioning_behavior) is the whole switch; nothing else in worker/ needs to change."""
    return None
