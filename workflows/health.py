"""`ControlPlanePing`: the smallest end-to-end proof that workflows and activities run on the task queue."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.health import PingRequest, PingResult, control_plane_ping


@workflow.defn(name="ControlPlanePing")
class ControlPlanePingWorkflow:
    @workflow.run
    async def run(self, request: PingRequest) -> PingResult:
        return await workflow.execute_activity(
            control_plane_ping,
            request,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


async def ping_control_plane(
    client: Client,
    task_queue: str,
    *,
    requested_by: str,
    execution_timeout: timedelta = timedelta(seconds=30),
) -> PingResult:
    """Run one ping through a worker. The execution timeout bounds the wait when no worker polls, and
    also makes the server close the run instead of leaving it open forever."""
    return await client.execute_workflow(
        ControlPlanePingWorkflow.run,
        PingRequest(requested_by=requested_by),
        id=f"control-plane-ping/{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=execution_timeout,
    )
