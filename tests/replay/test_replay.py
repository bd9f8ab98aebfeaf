"""The replay guard (docs/releasing.md): the current workflow code must replay every history recorded from
real runs of earlier releases — finished and in flight, of every workflow type — because workflows are
AUTO_UPGRADE: a running sequence or lane continues on the new build from its next workflow task.

And the guard must be able to fail: deliberately incompatible variants of the Sequence workflow (a new step
nobody guarded with `workflow.patched()`, a step dropped) and a history carrying a patch marker that the code
never asks for are each rejected with a non-determinism error. No server: the Replayer works offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, MarkerRecordedEventAttributes
from temporalio.client import WorkflowHistory
from temporalio.converter import default as default_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

import workflows
from keptn_temporal.replay import load_history, replay
from tests.replay import MANIFEST, corpora, history_files, status, workflow_names, workflow_type
from workflows.health import ControlPlanePingWorkflow
from workflows.lane import LaneWorkflow
from workflows.messages import SequenceInput
from workflows.sequence import SequenceStatus, SequenceWorkflow

FILES = [f for corpus in corpora() for f in history_files(corpus)]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", FILES, ids=[_id(f) for f in FILES])
async def test_current_code_replays_the_recorded_history(path: Path) -> None:
    # The code path of `keptn-temporal replay FILE`, which the release checklist runs as well.
    summary = await replay([load_history(path)])
    failures = cast(dict[str, str], summary["failures"])
    assert not failures, f"{path.name} does not replay on the current code: {' '.join(failures.values())}"


def test_each_corpus_has_every_workflow_type_finished_and_in_flight() -> None:
    """An empty or truncated corpus would let every parametrized replay pass by not running."""
    assert corpora(), "no corpus under tests/replay/histories: record one with `make histories`"
    names = workflow_names(workflows.ALL_WORKFLOWS)
    for corpus in corpora():
        files = history_files(corpus)
        manifest = json.loads((corpus / MANIFEST).read_text())
        assert {f.name for f in files} == set(manifest["files"]), f"{corpus.name}: manifest and files differ"
        # Classified from the histories themselves, not from the manifest.
        kinds = {(workflow_type(h), status(h)) for h in map(load_history, files)}
        missing = names - {kind for kind, _ in kinds}
        assert not missing, f"{corpus.name} has no history of {sorted(missing)}"
        for state in ("completed", "running"):
            assert ("Sequence", state) in kinds, f"{corpus.name} has no {state} Sequence"
        assert ("Lane", "running") in kinds, f"{corpus.name} has no open Lane"


# ---- the guard fails on incompatible code ---------------------------------------------------------------

# The variants are registered under the real name, as a careless release would ship them. They run unsandboxed:
# the sandbox would re-import this test module (and pytest); determinism is checked either way.


@workflow.defn(name="Sequence")
class SleepsBeforeTheLane(SequenceWorkflow):
    """A new durable step before everything else, not guarded by `workflow.patched()`."""

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceStatus:
        await workflow.sleep(1)
        return await super().run(inp)


@workflow.defn(name="Sequence")
class SkipsTheLane(SequenceWorkflow):
    """A step dropped: the sequence no longer queues for its lane (no `acquire_lane` activity)."""

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceStatus:
        return await super().run(inp)

    async def _acquire_lane(self) -> bool:
        return True


def sequence_histories() -> list[WorkflowHistory]:
    found = [h for h in map(load_history, FILES) if workflow_type(h) == "Sequence"]
    assert found, "no recorded Sequence history"
    return found


def scheduled(history: WorkflowHistory, activity: str) -> bool:
    return any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
        for e in history.events
    )


async def failures(sequence: type, histories: list[WorkflowHistory]) -> dict[str, BaseException]:
    replayer = Replayer(
        workflows=[sequence, LaneWorkflow, ControlPlanePingWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    found: dict[str, BaseException] = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            found[history.workflow_id] = result.replay_failure
    return found


def assert_nondeterministic(failed: dict[str, BaseException], expected: list[WorkflowHistory]) -> None:
    assert set(failed) == {h.workflow_id for h in expected}
    for workflow_id, error in failed.items():
        assert isinstance(error, workflow.NondeterminismError), f"{workflow_id}: {error!r}"


async def test_a_new_unguarded_step_fails_every_recorded_sequence() -> None:
    histories = sequence_histories()
    assert_nondeterministic(await failures(SleepsBeforeTheLane, histories), histories)


async def test_a_dropped_step_fails_every_sequence_that_took_it() -> None:
    histories = sequence_histories()
    took_it = [h for h in histories if scheduled(h, "acquire_lane")]
    assert took_it, "no recorded sequence queued for a lane"
    assert_nondeterministic(await failures(SkipsTheLane, histories), took_it)


async def test_the_unchanged_code_passes_the_same_harness() -> None:
    """The variants fail because of their change, not because of how they are replayed here."""
    assert await failures(SequenceWorkflow, sequence_histories()) == {}


def with_patch_marker(history: WorkflowHistory, patch_id: str) -> WorkflowHistory:
    """The history as a build with `patch_id` *activated* would have written it: the marker is the first
    command of the last workflow task. (A history must end with that task for the marker to go there.)"""
    last = history.events[-1]
    marker = HistoryEvent(
        event_id=last.event_id + 1,
        event_time=last.event_time,
        event_type=EventType.EVENT_TYPE_MARKER_RECORDED,
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name="core_patch",
            details={
                "patch-data": default_converter().payload_converter.to_payloads_wrapper(
                    [{"id": patch_id, "deprecated": False}]
                )
            },
            workflow_task_completed_event_id=last.event_id,
        ),
    )
    return WorkflowHistory(history.workflow_id, [*history.events, marker])


async def test_a_patch_marker_the_code_does_not_know_fails() -> None:
    """The downgrade case workflows/patches.py exists for: code without the `patched()` call cannot replay
    a history in which the patch was active. A dormant patch writes no marker, so this cannot happen."""
    waiting = [
        h
        for h in sequence_histories()
        if status(h) == "running" and h.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    if not waiting:
        pytest.skip("no in-flight sequence history ends with a workflow task")
    marked = [with_patch_marker(h, "not-in-this-code") for h in waiting]
    failed = await failures(SequenceWorkflow, marked)
    assert_nondeterministic(failed, marked)
    assert all("not-in-this-code" in str(e) for e in failed.values()), failed
