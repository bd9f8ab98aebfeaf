"""Where each event of the KEPTN stream goes in the sequence engine (Keptn's HandleIncomingEvent):

* `sh.keptn.event.<stage>.<sequence>.triggered` starts that sequence, pinned to the shipyard at the event's
  `gitcommitid` (or the project's newest commit). The workflow id is derived from the trigger event's id, so a
  redelivered or retried trigger can never start the sequence twice.
* `sh.keptn.event.<task>.started|finished` is signalled to the sequence whose open task `.triggered` has that
  `triggeredid`; answers to unknown or already closed tasks are dropped, as Keptn drops them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.sequence import join_lane
from keptn.events import parse_event_type
from keptn.sequence import SHIPYARD_UNAVAILABLE_MESSAGE, sequence_start_error
from keptn.shipyard import Shipyard, ShipyardError, parse_shipyard
from keptn_temporal.search_attributes import (
    KEPTN_CONTEXT,
    KEPTN_PROJECT,
    KEPTN_SEQUENCE,
    KEPTN_SERVICE,
    KEPTN_STAGE,
    KEPTN_STATE,
)
from keptn_temporal.settings import Settings
from store.errors import NotFoundError
from store.resources import ResourceRepository
from store.sequences import SequenceRepository, TriggeredEventRepository
from workflows.messages import (
    NextSequence,
    SequenceInput,
    TaskDefinition,
    TaskEventSignal,
    lane_id,
    sequence_workflow_id,
)
from workflows.sequence import SequenceWorkflow

log = logging.getLogger(__name__)


def sequence_plan(
    shipyard: Shipyard, stage: str, sequence: str
) -> tuple[list[TaskDefinition] | None, list[NextSequence], str]:
    """The tasks of `stage.sequence`, the sequences listening to its `.finished`, and why it cannot start
    (tasks None) if it cannot."""
    error = sequence_start_error(shipyard, stage, sequence)
    found = shipyard.get_sequence(stage, sequence)
    if error is not None or found is None:
        return None, [], error or ""
    tasks = [
        TaskDefinition(
            name=t.name, triggered_after_s=t.delay.total_seconds(), properties=dict(t.properties or {})
        )
        for t in found.tasks
    ]
    event = f"{stage}.{sequence}.finished"
    listeners = [
        NextSequence(stage=s.name, sequence=q.name, match=trigger.match)
        for s in shipyard.spec.stages
        for q in s.sequences
        for trigger in q.triggered_on
        if trigger.event == event
    ]
    return tasks, listeners, ""


class SequenceRouter:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        resources: ResourceRepository,
        sequences: SequenceRepository,
        triggered: TriggeredEventRepository,
    ) -> None:
        self.settings = settings
        self.client = client
        self.resources = resources
        self.sequences = sequences
        self.triggered = triggered

    async def route(self, event: dict[str, Any]) -> None:
        event_type = parse_event_type(event.get("type", ""))
        if event_type is None:
            return
        if event_type.is_sequence_event and event_type.kind == "triggered":
            await self.start_sequence(event, event_type.stage or "", event_type.sequence or "")
        elif event_type.is_task_event and event_type.kind in ("started", "finished"):
            await self.deliver_task_event(event)

    async def _shipyard(self, project: str, commit: str) -> tuple[Shipyard | str, str]:
        """The shipyard at `commit` (default: the project's newest), or why there is none."""
        commit = commit or (await self.resources.latest_commit(project)) or ""
        try:
            if not commit:
                raise NotFoundError("project", project)
            record = await self.resources.get(project, None, None, "shipyard.yaml", commit)
            return parse_shipyard(record.content), commit
        except (NotFoundError, ShipyardError) as exc:
            log.warning("no usable shipyard for project %s at %s: %s", project, commit or "-", exc)
            return SHIPYARD_UNAVAILABLE_MESSAGE.format(error=exc), commit

    async def start_sequence(self, event: dict[str, Any], stage: str, sequence: str) -> None:
        data = event.get("data") or {}
        project, service = data.get("project"), data.get("service")
        context = event.get("shkeptncontext")
        if not (isinstance(project, str) and project and isinstance(service, str) and service and context):
            log.warning("sequence trigger %s lacks project/service/context; ignored", event.get("id"))
            return
        workflow_id = sequence_workflow_id(context, stage, sequence, event["id"])
        shipyard, commit = await self._shipyard(project, event.get("gitcommitid") or "")
        if isinstance(shipyard, str):
            tasks, listeners, error = None, [], shipyard
        else:
            tasks, listeners, error = sequence_plan(shipyard, stage, sequence)
        # Open until the sequence's .finished: listed by /event/triggered like Keptn's triggeredEvents.
        await self.triggered.open(event, workflow_id)
        inp = SequenceInput(
            trigger=event,
            project=project,
            stage=stage,
            service=service,
            sequence=sequence,
            keptn_context=context,
            gitcommitid=commit,
            tasks=tasks,
            start_error=error,
            next_sequences=listeners,
            paused=await self.sequences.is_paused(project, context, stage),
            task_started_timeout_s=self.settings.task_started_wait_s,
            task_finished_timeout_s=self.settings.task_finished_wait_s,
        )
        try:
            await self.client.start_workflow(
                SequenceWorkflow.run,
                inp,
                id=workflow_id,
                task_queue=self.settings.task_queue,
                # Also after it finished: a trigger redelivered days later must not run the sequence again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(KEPTN_PROJECT, project),
                        SearchAttributePair(KEPTN_STAGE, stage),
                        SearchAttributePair(KEPTN_SERVICE, service),
                        SearchAttributePair(KEPTN_CONTEXT, context),
                        SearchAttributePair(KEPTN_SEQUENCE, sequence),
                        SearchAttributePair(KEPTN_STATE, "triggered"),
                    ]
                ),
                task_timeout=timedelta(seconds=10),
            )
        except WorkflowAlreadyStartedError:
            # A redelivered trigger. Joining the lane again is harmless (the lane ignores a sequence it knows,
            # and a closed one cannot be granted) and covers a crash between the start and the join.
            log.info("sequence %s already started (redelivered trigger %s)", workflow_id, event["id"])
        if tasks is not None and not inp.paused:
            # Queue it for its lane here, in stream order: the workflows' own `acquire` would reach the lane in
            # whatever order their first activities happen to run, and break FIFO for sequences triggered
            # close together. A paused sequence takes no place until it is resumed (it asks for it then).
            await join_lane(
                self.client, self.settings.task_queue, lane_id(project, stage, service), workflow_id
            )

    async def deliver_task_event(self, event: dict[str, Any]) -> None:
        triggered_id = event.get("triggeredid")
        if not triggered_id:
            return
        route = await self.triggered.route(triggered_id)
        if route is None or not route[1]:
            log.info(
                "%s %s answers no open task (triggeredid %s); dropped",
                event["type"],
                event["id"],
                triggered_id,
            )
            return
        try:
            await self.client.get_workflow_handle(route[0]).signal("task_event", TaskEventSignal(event=event))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("sequence %s is already closed; %s dropped", route[0], event["id"])
