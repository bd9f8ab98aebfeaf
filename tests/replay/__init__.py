"""The replay guard: histories recorded from real runs of earlier releases (tests/replay/histories/<label>/,
written by `python -m tests.replay.record`), replayed against the current workflow code by test_replay.py.
What both sides need to agree on lives here: where the corpora are and how a history is classified."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

HISTORIES = Path(__file__).with_name("histories")
MANIFEST = "MANIFEST.json"

_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def corpora() -> list[Path]:
    """One directory per recorded release."""
    return sorted(p for p in HISTORIES.iterdir() if p.is_dir()) if HISTORIES.is_dir() else []


def history_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.glob("*.json") if p.name != MANIFEST)


def workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def status(history: WorkflowHistory) -> str:
    """running | completed. A workflow that failed, timed out or was terminated is no scenario of ours, so
    it has no place in a corpus."""
    last = history.events[-1].event_type
    if last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return "completed"
    if last not in _CLOSE_EVENTS:
        return "running"
    raise ValueError(f"{history.workflow_id} closed as {EventType.Name(last)}")


def workflow_names(classes: list[type]) -> set[str]:
    """The names the classes are registered under (what a history's WorkflowExecutionStarted names). SDK 1.35
    has no public accessor for a class's definition."""
    return {workflow._Definition.must_from_class(cls).name for cls in classes}
