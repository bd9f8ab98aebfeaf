"""Temporal Worker Versioning: which build a worker is, and moving the deployment's current version.

Every worker runs as one version (deployment name, build id) of one Worker Deployment. New workflows go to
the deployment's *current* version; how a running workflow crosses versions is declared per workflow type
(docs/upgrades.md). The names follow temporal-worker-controller, which injects TEMPORAL_DEPLOYMENT_NAME and
TEMPORAL_WORKER_BUILD_ID, so the same package runs under it, under our local HA runner or under `up`.

Temporal has no high-level Python API for routing (SDK 1.35), so this module speaks the workflow service's
Worker Deployment RPCs directly.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

import temporalio.api.workflowservice.v1 as wsv1
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

# Temporal's canonical version string is "<deployment>.<build>", so the deployment name must not contain a dot.
DEFAULT_DEPLOYMENT_NAME = "keptn-control-plane"
T = TypeVar("T")
_REVISION_FILE = Path(__file__).with_name("REVISION")  # `git archive` writes the commit here (export-subst)


def _revision() -> str:
    try:
        text = _REVISION_FILE.read_text().strip()
    except OSError:
        text = ""
    if text and not text.startswith("$Format"):
        return text[:12]
    try:  # an editable install in a git checkout
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=_REVISION_FILE.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def build_id() -> str:
    """TEMPORAL_WORKER_BUILD_ID if set, else `<package version>+<git revision>` (the version alone when
    neither an archived REVISION nor a git checkout tells the revision)."""
    explicit = os.environ.get("TEMPORAL_WORKER_BUILD_ID")
    if explicit:
        return explicit
    try:
        package_version = version("keptn-temporal")
    except PackageNotFoundError:  # a source tree that was never installed
        package_version = "0.0.0"
    revision = _revision()
    return f"{package_version}+{revision}" if revision else package_version


def deployment_name() -> str:
    name = os.environ.get("TEMPORAL_DEPLOYMENT_NAME") or DEFAULT_DEPLOYMENT_NAME
    if "." in name:
        raise ValueError(f"TEMPORAL_DEPLOYMENT_NAME {name!r} must not contain '.'")
    return name


# How every workflow type crosses builds (docs/upgrades.md): AUTO_UPGRADE — a running workflow moves to the
# current build at its next workflow task. Sequences wait days (approvals, `triggeredAfter`) and lanes live as
# long as their service; pinned, they would keep an old build alive that long. The price: every release
# replays the previous one's histories and the previous one replays ours (workflows/patches.py, tests/replay).
# Set here, for the worker, rather than on each @workflow.defn: the server rejects a declared behavior from
# an unversioned worker, and the time-skipping test server has no worker deployments.
WORKFLOW_VERSIONING_BEHAVIOR = VersioningBehavior.AUTO_UPGRADE


def deployment_config(enabled: bool = True) -> WorkerDeploymentConfig | None:
    """None = an unversioned worker (Settings.worker_versioning off)."""
    if not enabled:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=deployment_name(), build_id=build_id()),
        use_worker_versioning=True,
        default_versioning_behavior=WORKFLOW_VERSIONING_BEHAVIOR,
    )


# ---- routing ------------------------------------------------------------------------------------------------


class RolloutError(RuntimeError):
    pass


@dataclass
class VersionSummary:
    build_id: str
    status: str  # inactive | current | ramping | draining | drained
    drainage: str  # "" | draining | drained


@dataclass
class DeploymentState:
    name: str
    current: str | None  # build id; None = unversioned / not set
    versions: list[VersionSummary] = field(default_factory=list)
    conflict_token: bytes = b""

    def version(self, build: str) -> VersionSummary | None:
        return next((v for v in self.versions if v.build_id == build), None)

    def as_dict(self) -> dict[str, object]:
        return {
            "deployment": self.name,
            "current": self.current,
            "versions": [v.__dict__ for v in self.versions],
        }


def _status_name(value: int) -> str:
    return WorkerDeploymentVersionStatus.Name(value).removeprefix("WORKER_DEPLOYMENT_VERSION_STATUS_").lower()


def _drainage_name(value: int) -> str:
    name = VersionDrainageStatus.Name(value).removeprefix("VERSION_DRAINAGE_STATUS_").lower()
    return "" if name == "unspecified" else name


async def _rate_limited(call: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
    """The server limits the requests per Worker Deployment ("too many requests issued to Worker
    Deployment"): a rollout polling while a worker promotes itself can hit it. Back off and try again."""
    for attempt in range(attempts):
        try:
            return await call()
        except RPCError as exc:
            if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def describe(client: Client, name: str | None = None) -> DeploymentState | None:
    """The deployment's routing and versions; None while no versioned worker of it ever polled."""
    name = name or deployment_name()
    request = wsv1.DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
    try:
        resp = await _rate_limited(lambda: client.workflow_service.describe_worker_deployment(request))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = resp.worker_deployment_info
    current = info.routing_config.current_deployment_version.build_id or None
    versions = [
        VersionSummary(
            build_id=s.deployment_version.build_id,
            status=_status_name(s.status),
            drainage=_drainage_name(s.drainage_info.status),
        )
        for s in info.version_summaries
    ]
    return DeploymentState(name, current, versions, resp.conflict_token)


async def wait_registered(
    client: Client, build: str, timeout_s: float, name: str | None = None
) -> DeploymentState:
    """Wait until a worker of `build` has polled (a version exists only after its first poll)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await describe(client, name)
        if state is not None and state.version(build) is not None:
            return state
        if time.monotonic() > deadline:
            raise RolloutError(f"no worker of build {build!r} polled within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


async def set_current(
    client: Client, build: str, *, name: str | None = None, timeout_s: float = 60.0
) -> str | None:
    """Make `build` the current version; returns the previous current build id (None if there was none).
    Idempotent: setting the version that is already current changes nothing."""
    name = name or deployment_name()
    state = await wait_registered(client, build, timeout_s, name)
    if state.current == build:
        return build
    request = wsv1.SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=name,
        build_id=build,
        conflict_token=state.conflict_token,
        identity="keptn-temporal-rollout",
    )
    resp = await _rate_limited(lambda: client.workflow_service.set_worker_deployment_current_version(request))
    return resp.previous_deployment_version.build_id or None


async def wait_drained(
    client: Client, build: str, timeout_s: float, *, name: str | None = None
) -> float | None:
    """Seconds until `build` is drained (no open workflow is pinned to it any more); None on timeout.
    The server refreshes drainage from visibility periodically (3 min by default), so this takes at least
    that long in production."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        state = await describe(client, name)
        summary = state.version(build) if state else None
        if summary is None or summary.drainage == "drained" or summary.status in ("drained", "inactive"):
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    return None
