"""One shipyard sequence in one stage, as a durable workflow — it reads like the shipyard it runs:

    acquire the lane of project/stage/service (FIFO, one running sequence at a time)
    for each task: wait `triggeredAfter` (a durable timer), send `<task>.triggered`,
                   collect `.started`/`.finished` until #finished == #started > 0, or time out
                   stop after a task that failed or errored
    send `<stage>.<sequence>.finished`, trigger the sequences whose `triggeredOn` matches, release the lane

All I/O (events, projections, the lane's signal-with-start) happens in activities, which are idempotent: the
event ids are generated here, deterministically, so a retried activity re-sends the same event and JetStream
and the event store drop the copy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from keptn import sequence as rules
    from keptn.events import format_keptn_time
    from keptn.shipyard import selector_fires
    from keptn_temporal.search_attributes import KEPTN_STATE
    from workflows.messages import (
        ControlSignal,
        EmitRequest,
        LaneAcquire,
        LaneRequest,
        SequenceInput,
        TaskDefinition,
        TaskEventSignal,
        lane_id,
    )

# Dormant in this release (workflows/patches.py): the previous release must replay our histories.
SHOW_SCHEDULED_TASK = "show-scheduled-task"

SOURCE = rules.SHIPYARD_CONTROLLER_SOURCE
APPROVAL = rules.APPROVAL_TASK
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Activities heartbeat (activities/heartbeat.py): a worker killed mid-activity is noticed within this, and the
# activity is retried on another worker, instead of after the whole start-to-close timeout.
ACTIVITY_HEARTBEAT = timedelta(seconds=3)
# I/O failures (database or NATS briefly away) are retried until they succeed: giving up would lose the event.
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


async def _io(activity: str, arg: Any) -> None:
    """Run one of the sequence's I/O activities (activities/sequence.py), retried until it succeeds."""
    await workflow.execute_activity(
        activity,
        arg,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        heartbeat_timeout=ACTIVITY_HEARTBEAT,
        retry_policy=ACTIVITY_RETRY,
    )


@dataclass
class SequenceStatus:
    """What GET /sequence and the Temporal UI show; also the query result."""

    state: str = rules.STATE_TRIGGERED
    current_task: str = ""
    current_task_triggered_id: str = ""
    previous_tasks: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""
    result: str = ""
    message: str = ""
    latest_event: dict[str, str] | None = None
    latest_failed_event: dict[str, str] | None = None
    latest_evaluation: dict[str, Any] | None = None


@workflow.defn(name="Sequence")
class SequenceWorkflow:
    # Input taken in __init__ so that a control signal delivered with the first task (e.g. a pause right after
    # the trigger) is not overwritten when run() starts.
    @workflow.init
    def __init__(self, inp: SequenceInput) -> None:
        self.input = inp
        self.status = SequenceStatus()
        self.version = 0
        self.paused = inp.paused
        self.aborted = False
        self.granted = False
        self.holding_lane = False
        self.task: rules.TaskExecution | None = None
        self.task_events_seen = 0
        self.results: list[rules.TaskResult] = []

    # ---- the sequence -------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceStatus:
        await self._set_state(rules.STATE_TRIGGERED)
        if inp.tasks is None:
            await self._finish(status="errored", result="fail", message=inp.start_error, trigger_next=False)
            return self.status

        previous = self.results
        outcome: str | None = None  # None: ran to the end; else aborted | timedOut
        if not await self._acquire_lane():
            outcome = rules.STATE_ABORTED
        else:
            await self._set_state(rules.STATE_STARTED)
            for index, task in enumerate(inp.tasks):
                outcome = await self._run_task(task, previous, is_last=index == len(inp.tasks) - 1)
                if outcome is not None or not rules.should_continue(previous[-1]):
                    break
        await self._complete(outcome, previous)
        return self.status

    async def _run_task(
        self, task: TaskDefinition, previous: list[rules.TaskResult], *, is_last: bool
    ) -> str | None:
        await self._wait_while_paused()
        if self.aborted:
            return rules.STATE_ABORTED
        if task.triggered_after_s > 0:
            if workflow.patched(SHOW_SCHEDULED_TASK):
                # GET /sequence-execution names the task the sequence waits to trigger, instead of the
                # previous one, for the whole `triggeredAfter` wait.
                self.status.current_task, self.status.current_task_triggered_id = task.name, ""
                await self._record()
            # A durable timer: it survives worker restarts and upgrades and fires at the same instant.
            try:
                await workflow.wait_condition(
                    lambda: self.aborted, timeout=timedelta(seconds=task.triggered_after_s)
                )
            except TimeoutError:
                pass
            await self._wait_while_paused()
            if self.aborted:
                return rules.STATE_ABORTED

        data = rules.task_triggered_data(
            self.input.trigger.get("data") or {},
            self.input.project,
            self.input.stage,
            self.input.service,
            previous,
            task.name,
            task.properties,
        )
        event = self._event(f"sh.keptn.event.{task.name}.triggered", data)
        self.task = rules.TaskExecution(name=task.name, triggered_id=event["id"])
        self.task_events_seen = 0
        self.status.current_task, self.status.current_task_triggered_id = task.name, event["id"]
        await self._emit(event, open_for_workflow=True)
        if task.name == APPROVAL:
            # Waiting for a human must not block the lane (Keptn's waitingForApproval).
            await self._release_lane()
            await self._set_state(rules.STATE_WAITING_FOR_APPROVAL)
        else:
            await self._record()

        outcome = await self._await_task(task, sent_at=workflow.now())
        triggered_id = event["id"]
        self.task = None if outcome is not None else self.task
        if outcome is not None:
            return outcome
        assert self.task is not None
        result = self.task.aggregate()
        self.task = None
        previous.append(result)
        self.status.previous_tasks.append(
            {
                "name": result.name,
                "triggeredID": triggered_id,
                "result": result.result,
                "status": result.status,
            }
        )
        self.status.current_task = self.status.current_task_triggered_id = ""
        await self._close_triggered([triggered_id])
        if task.name == APPROVAL and not is_last and rules.should_continue(result):
            if not await self._acquire_lane():
                return rules.STATE_ABORTED
            await self._set_state(rules.STATE_STARTED)
        return None

    async def _await_task(self, task: TaskDefinition, sent_at: Any) -> str | None:
        """Wait until the task is finished; None, or the outcome that ended the wait (aborted | timedOut)."""
        started_deadline = sent_at + timedelta(seconds=self.input.task_started_timeout_s)
        first_started_at = None
        # Whether the state shows the pause. Compared with `self.paused` rather than with its value at the
        # last wait: a pause that arrived while the task's .triggered was being sent must show too.
        shown_paused = self.status.state == rules.STATE_PAUSED
        while True:
            execution = self.task
            assert execution is not None
            if self.aborted:
                return rules.STATE_ABORTED
            if execution.is_finished():
                return None
            if self.paused != shown_paused:
                # A running task is not interrupted by a pause (Keptn); the state shows it at once.
                shown_paused = self.paused
                await self._set_state(rules.STATE_PAUSED if self.paused else self._running_state(task))
                continue
            now = workflow.now()
            if not execution.started and not execution.finished:
                remaining: timedelta | None = started_deadline - now
                why = rules.task_started_timeout_message(f"sh.keptn.event.{task.name}.triggered")
            elif task.name == APPROVAL:
                remaining, why = None, ""  # a human decides; no deadline (the lane is free meanwhile)
            else:
                first_started_at = first_started_at or now
                remaining = first_started_at + timedelta(seconds=self.input.task_finished_timeout_s) - now
                why = rules.task_finished_timeout_message(f"sh.keptn.event.{task.name}.triggered")
            if remaining is not None and remaining <= timedelta(0):
                self.status.message = why
                return rules.STATE_TIMED_OUT
            seen = self.task_events_seen
            try:
                await workflow.wait_condition(
                    lambda seen=seen, shown=shown_paused: (
                        self.aborted or self.task_events_seen != seen or self.paused != shown
                    ),
                    timeout=remaining,
                )
            except TimeoutError:
                self.status.message = why
                return rules.STATE_TIMED_OUT

    @staticmethod
    def _running_state(task: TaskDefinition) -> str:
        return rules.STATE_WAITING_FOR_APPROVAL if task.name == APPROVAL else rules.STATE_STARTED

    async def _complete(self, outcome: str | None, previous: list[rules.TaskResult]) -> None:
        last = previous[-1] if previous else None
        open_ids = [self.status.current_task_triggered_id] if self.status.current_task_triggered_id else []
        if outcome == rules.STATE_ABORTED:
            # Keptn: an aborted sequence finishes aborted/pass, its open .triggered events are dropped, and no
            # triggeredOn follow-up runs.
            await self._close_triggered(open_ids)
            await self._finish(
                status="aborted", result="pass", message="", trigger_next=False, state=rules.STATE_ABORTED
            )
        elif outcome == rules.STATE_TIMED_OUT:
            # Keptn's timeoutSequence only completes the sequence: no triggeredOn follow-up runs, not even a
            # rollback whose selector matches the timeout's result `fail`.
            await self._close_triggered(open_ids)
            await self._finish(
                status="errored",
                result="fail",
                message=self.status.message,
                trigger_next=False,
                state=rules.STATE_TIMED_OUT,
            )
        else:
            status = last.status if last else "succeeded"
            result = last.result if last else "pass"
            await self._finish(status=status, result=result, message=last.message if last else "", last=last)
        self.status.current_task = self.status.current_task_triggered_id = ""
        await self._release_lane()
        await self._record()

    async def _finish(
        self,
        *,
        status: str,
        result: str,
        message: str,
        trigger_next: bool = True,
        state: str = rules.STATE_FINISHED,
        last: rules.TaskResult | None = None,
    ) -> None:
        inp = self.input
        data = rules.sequence_finished_data(
            inp.trigger.get("data") or {},
            inp.project,
            inp.stage,
            inp.service,
            last,
            status=status,
            result=result,
            message=message,
        )
        self.status.status, self.status.result, self.status.message = status, result, message
        finished = self._event(
            f"sh.keptn.event.{inp.stage}.{inp.sequence}.finished", data, triggeredid=inp.trigger.get("id", "")
        )
        await self._emit(finished, close=[inp.trigger.get("id", "")])
        if trigger_next:
            payload = rules.merged_sequence_payload(
                inp.trigger.get("data") or {},
                self.results,
                project=inp.project,
                stage=inp.stage,
                service=inp.service,
            )
            last_task = self.status.previous_tasks[-1]["name"] if self.status.previous_tasks else None
            for nxt in inp.next_sequences:
                if selector_fires(nxt.match, result, last_task):
                    data = rules.next_sequence_trigger_data(payload, nxt.stage)
                    await self._emit(
                        self._event(f"sh.keptn.event.{nxt.stage}.{nxt.sequence}.triggered", data)
                    )
        await self._set_state(state)

    # ---- lane ---------------------------------------------------------------------------------------------

    async def _acquire_lane(self) -> bool:
        """Queue for the lane until granted; a paused sequence gives its place back until resumed."""
        me = workflow.info().workflow_id
        lane = lane_id(self.input.project, self.input.stage, self.input.service)
        while True:
            if self.paused or self.aborted:
                # The router queued this sequence when it was triggered: give the place back (a paused or
                # aborted sequence must not hold the lane, nor be granted it).
                await self._signal_lane_release(lane, me)
            await self._wait_while_paused()
            if self.aborted:
                return False
            self.granted = False
            await self._set_state(rules.STATE_WAITING)
            await _io("acquire_lane", LaneAcquire(lane_id=lane, workflow_id=me))
            await workflow.wait_condition(lambda: self.granted or self.aborted or self.paused)
            if self.granted and not self.aborted and not self.paused:
                self.holding_lane = True
                return True
            await self._signal_lane_release(lane, me)
            if self.aborted:
                return False

    async def _release_lane(self) -> None:
        if self.holding_lane:
            self.holding_lane = False
            await self._signal_lane_release(
                lane_id(self.input.project, self.input.stage, self.input.service), workflow.info().workflow_id
            )

    async def _signal_lane_release(self, lane: str, me: str) -> None:
        try:
            await workflow.get_external_workflow_handle(lane).signal("release", LaneRequest(workflow_id=me))
        except asyncio.CancelledError:
            raise
        except Exception:
            pass  # the lane is gone (idle-closed): nothing to give back

    # ---- helpers ------------------------------------------------------------------------------------------

    def _event(self, event_type: str, data: dict[str, Any], triggeredid: str = "") -> dict[str, Any]:
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(workflow.uuid4()),
            "source": SOURCE,
            "type": event_type,
            "time": format_keptn_time(workflow.now()),
            "contenttype": "application/json",
            "shkeptncontext": self.input.keptn_context,
            "shkeptnspecversion": "0.2.4",
            "data": data,
        }
        if self.input.gitcommitid:
            event["gitcommitid"] = self.input.gitcommitid
        if triggeredid:
            event["triggeredid"] = triggeredid
        return event

    async def _emit(
        self, event: dict[str, Any], *, open_for_workflow: bool = False, close: list[str] | None = None
    ) -> None:
        self._note_event(event)
        await _io(
            "emit_event",
            EmitRequest(
                event=event,
                open_for_workflow=workflow.info().workflow_id if open_for_workflow else "",
                close_triggered=[c for c in close or [] if c],
            ),
        )

    async def _close_triggered(self, ids: list[str]) -> None:
        ids = [i for i in ids if i]
        if ids:
            await _io("close_triggered", ids)

    def _note_event(self, event: dict[str, Any]) -> None:
        ref = {"id": event.get("id", ""), "type": event.get("type", ""), "time": event.get("time", "")}
        self.status.latest_event = ref
        data = event.get("data") or {}
        if data.get("result") == "fail":
            self.status.latest_failed_event = ref
        evaluation = data.get("evaluation")
        if event.get("type", "").endswith("evaluation.finished") and isinstance(evaluation, dict):
            self.status.latest_evaluation = {
                "result": evaluation.get("result", ""),
                "score": evaluation.get("score", 0),
            }

    async def _wait_while_paused(self) -> None:
        if self.paused and not self.aborted:
            await self._set_state(rules.STATE_PAUSED)
            await workflow.wait_condition(lambda: not self.paused or self.aborted)

    async def _set_state(self, state: str) -> None:
        self.status.state = state
        workflow.upsert_search_attributes([KEPTN_STATE.value_set(state)])
        await self._record()

    async def _record(self) -> None:
        """Write the sequence's projection (GET /sequence, /sequence-execution); versioned so that a retried
        or late write never overwrites a newer one."""
        self.version += 1
        inp = self.input
        data = inp.trigger.get("data") or {}
        values = (data.get("configurationChange") or {}).get("values") or {}
        problem = data.get("problem") or {}
        record = {
            "workflow_id": workflow.info().workflow_id,
            "project": inp.project,
            "stage": inp.stage,
            "service": inp.service,
            "sequence": inp.sequence,
            "keptn_context": inp.keptn_context,
            "triggered_id": inp.trigger.get("id", ""),
            "state": self.status.state,
            "triggered_at": inp.trigger.get("time", ""),
            "version": self.version,
            "status": self.status.status,
            "result": self.status.result,
            "current_task": self.status.current_task,
            "current_task_triggered_id": self.status.current_task_triggered_id,
            "gitcommitid": inp.gitcommitid,
            "image": values.get("image", "") if isinstance(values, dict) else "",
            "problem_title": problem.get("problemTitle", "") if isinstance(problem, dict) else "",
            "labels": data.get("labels") or {},
            "input_properties": data,
            "previous_tasks": self.status.previous_tasks,
            "latest_event": self.status.latest_event,
            "latest_failed_event": self.status.latest_failed_event,
            "latest_evaluation": self.status.latest_evaluation,
            "tasks": [
                {"name": t.name, "triggeredAfter": t.triggered_after_s, "properties": t.properties}
                for t in inp.tasks or []
            ],
        }
        await _io("record_sequence", record)

    # ---- messages -----------------------------------------------------------------------------------------

    @workflow.signal
    def task_event(self, sig: TaskEventSignal) -> None:
        event = sig.event
        if self.task is None or event.get("triggeredid") != self.task.triggered_id:
            return  # an answer to a task that is already over
        task_event = rules.TaskEvent.from_cloud_event(event)
        if task_event is not None and self.task.record(task_event):
            self.task_events_seen += 1
            self._note_event(event)

    @workflow.signal
    def control(self, sig: ControlSignal) -> None:
        if sig.action == "pause":
            self.paused = True
        elif sig.action == "resume":
            self.paused = False
        elif sig.action == "abort":
            self.aborted = True

    @workflow.signal
    def lane_granted(self) -> None:
        self.granted = True

    @workflow.signal
    def lane_check(self) -> None:
        """The lane asking whether its holder still runs; receiving it is the answer."""

    @workflow.query
    def describe(self) -> SequenceStatus:
        return self.status
