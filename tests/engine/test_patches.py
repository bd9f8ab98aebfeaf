"""A patch ships dormant and is activated one release later (workflows/patches.py, docs/upgrades.md).

`show-scheduled-task` is this release's: while a task waits for its `triggeredAfter` timer, the sequence
execution names that task. Dormant, a run behaves exactly as in the previous release and its history has no
patch marker (so the previous release can replay it after a downgrade); activated, it shows the task and the
history carries the marker.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType

import workflows.patches
from tests.engine.harness import Stack
from tests.engine.support import ScopedExecutor, executions, wait_state
from tests.fixtures.databases import unique_name
from workflows.sequence import SHOW_SCHEDULED_TASK

SHIPYARD = """\
apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: scheduled
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
              triggeredAfter: 3s
"""


async def _run(stack: Stack) -> tuple[str, bool]:
    """Run one delivery; returns the current task shown during the wait, and whether the history has a marker."""
    project = unique_name("patch")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    async with ScopedExecutor(stack, "deployment", project), ScopedExecutor(stack, "test", project):
        context = await stack.trigger(project, "dev", "delivery", "carts")

        await stack.wait_for(project, context, "sh.keptn.event.deployment.finished")
        # Inside the 3 s wait (the timer starts after the deployment's .finished was processed).
        await asyncio.sleep(1.0)
        [execution] = await executions(stack, project, context)
        shown = execution["status"]["currentTask"]["name"]
        await wait_state(stack, project, context, "finished", timeout_s=30)
    query = f'KeptnContext="{context}" AND WorkflowType="Sequence"'
    [workflow_id] = [e.id async for e in stack.temporal.list_workflows(query)]
    history = await stack.temporal.get_workflow_handle(workflow_id).fetch_history()
    marker = any(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for e in history.events)
    return shown, marker


async def test_a_dormant_patch_changes_nothing_and_writes_no_marker(stack: Stack) -> None:
    assert SHOW_SCHEDULED_TASK not in workflows.patches.ACTIVE_PATCHES
    shown, marker = await _run(stack)
    # As in the previous release: the projection is written when the next task is triggered, so it still
    # names the finished task during the wait.
    assert shown == "deployment"
    assert not marker


async def test_an_activated_patch_shows_the_scheduled_task(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflows.patches, "ACTIVE_PATCHES", frozenset({SHOW_SCHEDULED_TASK}))
    shown, marker = await _run(stack)
    assert shown == "test"
    assert marker
