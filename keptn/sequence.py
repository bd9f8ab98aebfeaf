"""Pure rules of a running shipyard sequence (Keptn 1.4.5 shipyard-controller), for the Temporal workflows.

Everything here is deterministic: no I/O, no clock, no random ids - Temporal replays workflow code, so time and
ids are always parameters. Sources: `shipyard-controller/models/sequence_execution.go`,
`internal/controller/shipyardcontroller.go`, `shipyardcontroller_utils.go` (BEHAVIOR.md b.2-b.4).

Values that cross into workflows are plain dataclasses holding JSON values, which Temporal's default data
converter (de)serialises. Every field has a default so that a field added later still decodes old workflow
histories that lack it - keep it that way: NEW FIELDS MUST HAVE DEFAULTS.

Deliberate deviations from Keptn:

* `TaskExecution.record` de-duplicates events by CloudEvent id (Keptn stored no id and counted a redelivered
  `.started`/`.finished` twice, which could complete a task early or never).
* The sequence `.finished` message and labels come from the last `.finished` event of the task; Keptn took them
  from whichever event completed the task, which is a `.started` event when an executor's `.started` arrives
  after its `.finished`. Labels fall back to the sequence input's labels when the task sent none.
* A task that received `.started` but never a matching `.finished` can time out
  (`TASK_FINISHED_TIMEOUT_MESSAGE`; Keptn waited forever, keptn/keptn#7407).
* Payload merging uses `keptn.merge.merge`, where numbers and booleans take the new value.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from keptn.events import KIND_FINISHED, KIND_STARTED, parse_event_type
from keptn.merge import merge, merge_maps

if TYPE_CHECKING:  # only an annotation: keeps yaml out of the workflow sandbox's imports
    from keptn.shipyard import Shipyard

# ------------------------------------------------------------------------------------------------
# Results, statuses, states
# ------------------------------------------------------------------------------------------------

RESULT_PASS = "pass"
RESULT_WARNING = "warning"
RESULT_FAIL = "fail"

STATUS_SUCCEEDED = "succeeded"
STATUS_ERRORED = "errored"
STATUS_ABORTED = "aborted"
STATUS_UNKNOWN = "unknown"

# Sequence execution / lane states (go-utils `pkg/api/models/state.go`). `waiting` is what GET /sequence shows
# for a queued sequence; `aborted` is what it shows for an aborted one (Keptn stored `finished` internally).
STATE_TRIGGERED = "triggered"
STATE_WAITING = "waiting"
STATE_STARTED = "started"
STATE_PAUSED = "paused"
STATE_WAITING_FOR_APPROVAL = "waitingForApproval"
STATE_FINISHED = "finished"
STATE_ABORTED = "aborted"
STATE_TIMED_OUT = "timedOut"
SEQUENCE_STATES = (
    STATE_TRIGGERED,
    STATE_WAITING,
    STATE_STARTED,
    STATE_PAUSED,
    STATE_WAITING_FOR_APPROVAL,
    STATE_FINISHED,
    STATE_ABORTED,
    STATE_TIMED_OUT,
)

APPROVAL_TASK = "approval"
SHIPYARD_CONTROLLER_SOURCE = "shipyard-controller"

# ------------------------------------------------------------------------------------------------
# Messages (Keptn's texts; placeholders are str.format fields)
# ------------------------------------------------------------------------------------------------

UNKNOWN_SEQUENCE_MESSAGE = (
    "Unable to start sequence {sequence}: no task sequence with name {sequence} found in stage {stage}"
)
UNKNOWN_STAGE_MESSAGE = "Unable to start sequence {sequence}: no stage with name {stage}"
EMPTY_SEQUENCE_MESSAGE = (
    "Unable to start sequence {sequence}: task sequence {sequence} does not contain any tasks"
)
SHIPYARD_UNAVAILABLE_MESSAGE = "Unable to retrieve Shipyard file: {error}"
# Keptn fills in the full type of the task's `.triggered` event, e.g. `sh.keptn.event.deployment.triggered`.
TASK_STARTED_TIMEOUT_MESSAGE = "sequence timed out while waiting for task {task_type} to receive a correlating .started or .finished event"
# Ours (Keptn #7407 had no such timeout): some `.started` never got its `.finished`.
TASK_FINISHED_TIMEOUT_MESSAGE = "sequence timed out while waiting for task {task_type} to receive a .finished event for every .started event"


def sequence_start_error(shipyard: Shipyard, stage: str, sequence: str) -> str | None:
    """Why `<stage>.<sequence>.triggered` cannot start (Keptn `GetTaskSequenceInStage`), or None if it can.

    The returned text is the `message` of the `<stage>.<sequence>.finished` event sent with status errored and
    result fail. The built-in `evaluation` sequence exists in every stage.
    """
    if shipyard.get_stage(stage) is None:
        return UNKNOWN_STAGE_MESSAGE.format(sequence=sequence, stage=stage)
    found = shipyard.get_sequence(stage, sequence)
    if found is None:
        return UNKNOWN_SEQUENCE_MESSAGE.format(sequence=sequence, stage=stage)
    if not found.tasks:
        return EMPTY_SEQUENCE_MESSAGE.format(sequence=sequence)
    return None


def task_started_timeout_message(task_type: str) -> str:
    """Keptn's timeout message; `task_type` is the task's `.triggered` event type, as in Keptn."""
    return TASK_STARTED_TIMEOUT_MESSAGE.format(task_type=task_type)


def task_finished_timeout_message(task_type: str) -> str:
    return TASK_FINISHED_TIMEOUT_MESSAGE.format(task_type=task_type)


# ------------------------------------------------------------------------------------------------
# Task events and their aggregation
# ------------------------------------------------------------------------------------------------

# Workflow-crossing dataclasses: every field has a default so old histories still decode after a field is added.


@dataclass
class TaskResult:
    """The aggregated outcome of one task (Keptn `TaskExecutionResult`, plus message and labels)."""

    name: str = ""
    triggered_id: str = ""
    result: str = ""
    status: str = ""
    # Merge of the `data` of all `.finished` events of the task.
    properties: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskEvent:
    """A `.started` or `.finished` event answering a task's `.triggered` event."""

    id: str = ""
    type: str = ""
    source: str = ""
    kind: str = ""  # KIND_STARTED | KIND_FINISHED
    result: str = ""
    status: str = ""
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: str = ""

    @classmethod
    def from_cloud_event(cls, event: Mapping[str, Any]) -> TaskEvent | None:
        """Build from a CloudEvent's wire JSON; None unless it is a task `.started`/`.finished` event."""
        parsed = parse_event_type(event.get("type") or "")
        if parsed is None or not parsed.is_task_event or parsed.kind not in (KIND_STARTED, KIND_FINISHED):
            return None
        data = event.get("data")
        data = copy.deepcopy(dict(data)) if isinstance(data, Mapping) else {}
        return cls(
            id=_text(event.get("id")),
            type=parsed.raw,
            source=_text(event.get("source")),
            kind=parsed.kind,
            result=_text(data.get("result")),
            status=_text(data.get("status")),
            message=_text(data.get("message")),
            data=data,
            time=_text(event.get("time")),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class TaskExecution:
    """The events received for the task currently running (Keptn `TaskExecutionState`)."""

    name: str = ""
    triggered_id: str = ""
    started: list[TaskEvent] = field(default_factory=list)
    finished: list[TaskEvent] = field(default_factory=list)

    def record(self, event: TaskEvent) -> bool:
        """Add a `.started`/`.finished` event. Returns False (and records nothing) for an event whose id was
        already recorded - JetStream redelivers, executors retry - or whose kind is neither."""
        if event.kind not in (KIND_STARTED, KIND_FINISHED):
            return False
        if event.id and any(e.id == event.id for e in (*self.started, *self.finished)):
            return False
        (self.started if event.kind == KIND_STARTED else self.finished).append(event)
        return True

    def is_finished(self) -> bool:
        """Keptn's rule: as many `.finished` as `.started` events, and at least one. A lone `.finished` (no
        `.started`) therefore never completes a task, exactly as in Keptn."""
        return len(self.finished) == len(self.started) and len(self.finished) > 0

    def has_response(self) -> bool:
        """Any executor answered (the Keptn task-started timeout only fires when none did)."""
        return bool(self.started or self.finished)

    def aggregate(self) -> TaskResult:
        """The task's result (Keptn `CompleteCurrentTask`, BEHAVIOR b.4 step 6)."""
        result = _aggregate_result(self.finished)
        status = _aggregate_status(self.finished)
        if status == STATUS_UNKNOWN:
            result = RESULT_FAIL  # Keptn PR #8612: an unknown status must not let the sequence continue
        properties: dict[str, Any] = {}
        for event in self.finished:
            properties = merge_maps(properties, event.data)
        last = self.finished[-1] if self.finished else None
        return TaskResult(
            name=self.name,
            triggered_id=self.triggered_id,
            result=result,
            status=status,
            properties=properties,
            message=last.message if last else "",
            labels=_labels_of(last.data) if last else {},
        )


def _aggregate_result(finished: Sequence[TaskEvent]) -> str:
    # Anything but pass/warning - including an empty result - is a failure.
    if any(e.result not in (RESULT_PASS, RESULT_WARNING) for e in finished):
        return RESULT_FAIL
    if any(e.result == RESULT_WARNING for e in finished):
        return RESULT_WARNING
    return RESULT_PASS


def _aggregate_status(finished: Sequence[TaskEvent]) -> str:
    if any(e.status == STATUS_ERRORED for e in finished):
        return STATUS_ERRORED
    if any(e.status == STATUS_ABORTED for e in finished):
        return STATUS_ABORTED
    if all(e.status == STATUS_SUCCEEDED for e in finished):
        return STATUS_SUCCEEDED
    return STATUS_UNKNOWN


def _labels_of(data: Mapping[str, Any] | None) -> dict[str, str]:
    labels = (data or {}).get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


# ------------------------------------------------------------------------------------------------
# Progress through the sequence
# ------------------------------------------------------------------------------------------------


def should_continue(result: TaskResult) -> bool:
    """Whether the sequence goes on after this task (Keptn `GetNextTaskOfSequence`): it stops on result
    `fail` or status `errored`. `warning` continues, and so does `aborted` with pass/warning; `unknown` status
    was already turned into `fail` by `TaskExecution.aggregate`."""
    return result.result != RESULT_FAIL and result.status != STATUS_ERRORED


T = TypeVar("T")


def next_task(tasks: Sequence[T], previous: Sequence[TaskResult]) -> T | None:
    """The task to run after `previous` (the completed tasks, in order), or None if the sequence is over -
    because every task ran or because the last one stopped it (`should_continue`)."""
    if previous and not should_continue(previous[-1]):
        return None
    return tasks[len(previous)] if len(previous) < len(tasks) else None


def state_after_task_triggered(task_name: str) -> str:
    """Keptn `SetNextCurrentTask`: a sequence waiting on an approval is `waitingForApproval`, else `started`."""
    return STATE_WAITING_FOR_APPROVAL if task_name == APPROVAL_TASK else STATE_STARTED


# ------------------------------------------------------------------------------------------------
# Payloads
# ------------------------------------------------------------------------------------------------


def _accumulated_payload(
    input_properties: Mapping[str, Any] | None,
    previous: Sequence[TaskResult],
    project: str | None,
    stage: str | None,
    service: str | None,
) -> dict[str, Any]:
    """Keptn `GetNextTriggeredEventData` up to (not including) the next task's properties and the message."""
    payload = merge_maps({}, input_properties)
    # The scope is set before the tasks' data is merged, so a task's data could override it - as in Keptn.
    for key, value in (("project", project), ("stage", stage), ("service", service)):
        if value is not None:
            payload[key] = value
    for task in previous:
        payload = merge_maps(payload, task.properties)
    if previous:
        payload["result"] = previous[-1].result
        payload["status"] = previous[-1].status
    return payload


def _blank_message(payload: dict[str, Any]) -> dict[str, Any]:
    # "remove any messages set by previous task executors" - only when one is there (a null stays null).
    if payload.get("message") is not None:
        payload["message"] = ""
    return payload


def merged_sequence_payload(
    input_properties: Mapping[str, Any] | None,
    previous: Sequence[TaskResult],
    *,
    project: str | None = None,
    stage: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """The payload a completed (or running) sequence has accumulated: its `.triggered` data merged with the
    `.finished` data of every completed task in order, `result`/`status` of the last task, `message` blanked.
    `project`/`stage`/`service` overwrite the input's values when given (Keptn takes them from the scope,
    which was read from the same input)."""
    return _blank_message(_accumulated_payload(input_properties, previous, project, stage, service))


def task_triggered_data(
    input_properties: Mapping[str, Any] | None,
    project: str,
    stage: str,
    service: str,
    previous: Sequence[TaskResult],
    task_name: str,
    task_properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """`data` of the `<task>.triggered` event (Keptn `GetNextTriggeredEventData`, BEHAVIOR b.4 step 5).

    `task_properties` are the shipyard task's `properties`; None (none configured) leaves `data[<task>]` as the
    previous steps made it, while a mapping - even an empty one - is merged into it.
    """
    payload = _accumulated_payload(input_properties, previous, project, stage, service)
    if task_properties is not None:
        payload[task_name] = merge(payload.get(task_name), dict(task_properties))
    return _blank_message(payload)


def sequence_finished_data(
    input_properties: Mapping[str, Any] | None,
    project: str,
    stage: str,
    service: str,
    last: TaskResult | None,
    *,
    status: str | None = None,
    result: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """`data` of `<stage>.<sequence>.finished` (BEHAVIOR b.4 step 7): `{project, stage, service, labels,
    status, result, message}`.

    status/result/message default to those of `last` (the last completed task); pass them to override, e.g.
    errored/fail/<timeout message> for a timeout or aborted/pass for an abort. Labels are the task's, else the
    input's. Empty members are left out, like Go's `omitempty` on `EventData`.
    """
    labels = (last.labels if last else None) or _labels_of(input_properties)
    data: dict[str, Any] = {
        "project": project,
        "stage": stage,
        "service": service,
        "labels": dict(labels),
        "status": status if status is not None else (last.status if last else ""),
        "result": result if result is not None else (last.result if last else ""),
        "message": message if message is not None else (last.message if last else ""),
    }
    return {k: v for k, v in data.items() if v}


def next_sequence_trigger_data(finished_payload: Mapping[str, Any], next_stage: str) -> dict[str, Any]:
    """`data` of the `<next_stage>.<seq>.triggered` event started by a `triggeredOn` (BEHAVIOR b.4 step 8).

    `finished_payload` is `merged_sequence_payload(...)` of the completed sequence. As in Keptn
    (`sendTaskSequenceTriggeredEvent`), it is carried whole - including the `result`/`status` of the completed
    sequence's last task and its labels - with only `stage` replaced. The new sequence does not treat these as
    its own status: the first task of the next sequence simply sees them, as in Keptn.
    """
    payload = copy.deepcopy(dict(finished_payload))
    payload["stage"] = next_stage
    return payload
