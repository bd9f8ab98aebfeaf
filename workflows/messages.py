"""Inputs, signals and results of the sequence and lane workflows.

Every field has a default: a field added by a later release must still decode from histories (and queued
signals) written by the previous one, and a field removed must be ignorable by the older worker during a
downgrade. Only plain JSON types cross the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskDefinition:
    name: str = ""
    triggered_after_s: float = 0.0
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class NextSequence:
    """A `triggeredOn` entry elsewhere in the shipyard that listens to this sequence's `.finished`."""

    stage: str = ""
    sequence: str = ""
    match: dict[str, str] | None = None


@dataclass
class SequenceInput:
    trigger: dict[str, Any] = field(default_factory=dict)  # the <stage>.<seq>.triggered CloudEvent
    project: str = ""
    stage: str = ""
    service: str = ""
    sequence: str = ""
    keptn_context: str = ""
    gitcommitid: str = ""  # the shipyard version the sequence is pinned to
    # None: the sequence cannot start (no such stage/sequence, no shipyard) and finishes errored at once
    # with `start_error` as its message.
    tasks: list[TaskDefinition] | None = None
    start_error: str = ""
    next_sequences: list[NextSequence] = field(default_factory=list)
    paused: bool = False  # the context (or this stage of it) was paused before the sequence was triggered
    task_started_timeout_s: float = 600.0
    task_finished_timeout_s: float = 3 * 3600.0


@dataclass
class TaskEventSignal:
    event: dict[str, Any] = field(default_factory=dict)  # a .started or .finished CloudEvent


@dataclass
class ControlSignal:
    action: str = ""  # pause | resume | abort


@dataclass
class LaneRequest:
    workflow_id: str = ""


@dataclass
class LaneState:
    holder: str | None = None
    queue: list[str] = field(default_factory=list)
    granted: int = 0


@dataclass
class EmitRequest:
    """An event a sequence sends. `open_for_workflow` indexes a task `.triggered` so its answers find the
    sequence; `close_triggered` marks the answered `.triggered` as no longer open."""

    event: dict[str, Any] = field(default_factory=dict)
    open_for_workflow: str = ""
    close_triggered: list[str] = field(default_factory=list)


@dataclass
class LaneAcquire:
    lane_id: str = ""
    workflow_id: str = ""


def lane_id(project: str, stage: str, service: str) -> str:
    return f"lane/{project}/{stage}/{service}"


def sequence_workflow_id(keptn_context: str, stage: str, sequence: str, trigger_id: str) -> str:
    # Readable in the Temporal UI, and unique per trigger event: a redelivered trigger maps to the same id
    # (so it cannot start twice), while a remediation loop's new trigger in the same context gets a new one.
    return f"sequence/{keptn_context}/{stage}.{sequence}/{trigger_id}"
