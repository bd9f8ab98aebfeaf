"""`control_plane_ping`: proves that a worker serves the task queue and can run activities.

Used by `keptn-temporal up` to decide the worker is ready, and later by rollout gates (a smoke workflow
pinned to a not-yet-current build, as temporal-worker-controller's gate does).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio import activity

from keptn_temporal.versioning import build_id


@dataclass
class PingRequest:
    requested_by: str


@dataclass
class PingResult:
    worker: str
    build_id: str
    task_queue: str
    answered_at: str


@activity.defn(name="control_plane_ping")
async def control_plane_ping(request: PingRequest) -> PingResult:
    info = activity.info()
    activity.logger.debug("ping from %s", request.requested_by)
    return PingResult(
        worker=f"{os.getpid()}@{socket.gethostname()}",
        build_id=build_id(),
        task_queue=info.task_queue,
        answered_at=datetime.now(UTC).isoformat(),
    )
