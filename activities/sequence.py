"""The I/O of sequences: send events, keep the open-`.triggered` index and the sequence projection, and
queue for a lane. Each activity is idempotent, because Temporal retries it after any failure or worker crash:
events carry ids chosen by the workflow, the index and the projection are keyed upserts, and the lane
ignores an `acquire` from a sequence it already knows.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities.heartbeat import heartbeating
from eventbus.emitter import EventEmitter
from eventbus.publisher import EventPublisher
from keptn.events import parse_keptn_time
from store.db import Database
from store.events import EventRepository
from store.sequences import SequenceExecutionRecord, SequenceRepository, TriggeredEventRepository
from workflows.lane import LaneWorkflow
from workflows.messages import EmitRequest, LaneAcquire, LaneRequest, LaneState

_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(SequenceExecutionRecord))


def _time(value: str) -> datetime:
    try:
        return parse_keptn_time(value)
    except (ValueError, TypeError):
        return datetime.now(UTC)


async def join_lane(client: Client, task_queue: str, lane: str, workflow_id: str) -> None:
    """Signal-with-start: queue `workflow_id` in the lane, starting the lane workflow if it is idle-closed."""
    await client.start_workflow(
        LaneWorkflow.run,
        LaneState(),
        id=lane,
        task_queue=task_queue,
        start_signal="acquire",
        start_signal_args=[LaneRequest(workflow_id=workflow_id)],
    )


class SequenceActivities:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        events: EventRepository,
        client: Client,
        task_queue: str,
    ) -> None:
        self.emitter = EventEmitter(publisher, events)
        self.client = client
        self.task_queue = task_queue
        self.sequences = SequenceRepository(db)
        self.triggered = TriggeredEventRepository(db)

    @activity.defn(name="emit_event")
    async def emit_event(self, req: EmitRequest) -> None:
        async with heartbeating():
            # Index before publishing: an executor may answer the moment the event is out, and its answer
            # must find the sequence.
            if req.open_for_workflow:
                await self.triggered.open(req.event, req.open_for_workflow)
            await self.emitter.emit(req.event)
            for triggered_id in req.close_triggered:
                await self.triggered.close(triggered_id)

    @activity.defn(name="close_triggered")
    async def close_triggered(self, triggered_ids: list[str]) -> None:
        async with heartbeating():
            for triggered_id in triggered_ids:
                await self.triggered.close(triggered_id)

    @activity.defn(name="record_sequence")
    async def record_sequence(self, record: dict[str, Any]) -> None:
        # During a rolling upgrade or downgrade the workflow may run one build and this activity the other:
        # fields this build does not know are dropped rather than failing the activity forever.
        fields = {k: v for k, v in record.items() if k in _RECORD_FIELDS}
        fields["triggered_at"] = _time(fields.get("triggered_at", ""))
        async with heartbeating():
            await self.sequences.save(SequenceExecutionRecord(**fields))

    @activity.defn(name="acquire_lane")
    async def acquire_lane(self, req: LaneAcquire) -> None:
        async with heartbeating():
            await join_lane(self.client, self.task_queue, req.lane_id, req.workflow_id)

    def all(self) -> list[Any]:
        return [self.emit_event, self.close_triggered, self.record_sequence, self.acquire_lane]
