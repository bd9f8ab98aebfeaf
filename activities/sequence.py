"""The I/O of sequences: send events, keep the open-`.triggered` index and the sequence projection, and
queue for a lane. Each activity is idempotent, because Temporal retries it after any failure or worker crash:
events carry ids chosen by the workflow, the index and the projection are keyed upserts, and the lane
ignores an `acquire` from a sequence it already knows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client

from keptn.events import parse_keptn_time
from store.sequences import SequenceExecutionRecord, SequenceRepository, TriggeredEventRepository
from worker.resources import WorkerResources
from workflows.lane import LaneWorkflow
from workflows.messages import EmitRequest, LaneAcquire, LaneRequest, LaneState


def _time(value: str) -> datetime:
    try:
        return parse_keptn_time(value)
    except (ValueError, TypeError):
        return datetime.now(UTC)


class SequenceActivities:
    def __init__(self, resources: WorkerResources, client: Client) -> None:
        self.resources = resources
        self.client = client
        self.sequences = SequenceRepository(resources.db)
        self.triggered = TriggeredEventRepository(resources.db)

    @activity.defn(name="emit_event")
    async def emit_event(self, req: EmitRequest) -> None:
        # Index before publishing: an executor may answer the moment the event is out, and its answer must
        # find the sequence.
        if req.open_for_workflow:
            await self.triggered.open(req.event, req.open_for_workflow)
        await self.resources.publisher.publish(req.event)
        await self.resources.events.add(req.event)
        for triggered_id in req.close_triggered:
            await self.triggered.close(triggered_id)

    @activity.defn(name="close_triggered")
    async def close_triggered(self, triggered_ids: list[str]) -> None:
        for triggered_id in triggered_ids:
            await self.triggered.close(triggered_id)

    @activity.defn(name="record_sequence")
    async def record_sequence(self, record: dict[str, Any]) -> None:
        fields = dict(record)
        fields["triggered_at"] = _time(fields.get("triggered_at", ""))
        await self.sequences.save(SequenceExecutionRecord(**fields))

    @activity.defn(name="acquire_lane")
    async def acquire_lane(self, req: LaneAcquire) -> None:
        # Signal-with-start: joins the lane's queue, starting the lane workflow if it is idle-closed.
        await self.client.start_workflow(
            LaneWorkflow.run,
            LaneState(),
            id=req.lane_id,
            task_queue=self.resources.settings.task_queue,
            start_signal="acquire",
            start_signal_args=[LaneRequest(workflow_id=req.workflow_id)],
        )

    def all(self) -> list[Any]:
        return [self.emit_event, self.close_triggered, self.record_sequence, self.acquire_lane]
