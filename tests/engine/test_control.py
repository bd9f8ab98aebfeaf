"""Pause, resume and abort through POST /api/controlPlane/v1/sequence/{project}/{keptnContext}/control
(shipyard-controller `ControlSequence`, component tests `CancelSequence`, `CancelQueuedSequence`; Keptn's
`test_sequencecontrol.go`; BEHAVIOR b.4 step 10):

* pause: no new task is sent while paused, but the task that is running is not interrupted — its answers are
  taken; GET /sequence shows `paused`; resume carries on with the next task;
* abort: the sequence finishes at once with `<stage>.<seq>.finished` aborted/pass, its open `.triggered` is
  withdrawn, and no `triggeredOn` sequence follows; GET /sequence shows `aborted`;
* abort of a sequence still queued behind another one of the same service removes it from the queue (it also
  finishes aborted/pass, never having sent a task) and the running one goes on undisturbed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine.harness import Stack
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    executions,
    only,
    open_triggered,
    publish,
    silent,
    state_of,
    task_event,
    types_of,
    wait_execution_state,
    wait_state,
)
from tests.fixtures.databases import unique_name

DEV = """
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}, {name: test}]
"""
STAGING = """
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment}]
"""
HEADER = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: control}
spec:
  stages:"""
# Tests that need no second stage do without: a staging sequence would outlive the test.
ONE_STAGE = HEADER + DEV
TWO_STAGES = HEADER + DEV + STAGING

# Seeing that something does NOT happen takes a wait; the engine reacts within milliseconds.
QUIET_S = 1.0


async def setup(stack: Stack, prefix: str, shipyard: str = ONE_STAGE) -> str:
    project = unique_name(prefix)
    await stack.create_project(project, shipyard)
    await stack.create_service(project, "carts")
    return project


async def control(stack: Stack, project: str, context: str, state: str) -> None:
    r = await stack.control(project, context, state)
    assert r.status_code == 200, r.text


async def triggered_in(executor: ScopedExecutor, context: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = [e for e in executor.received if e["shkeptncontext"] == context]
        return found[0] if found else None

    return await eventually(probe, f"{executor.task}.triggered in {context}")


async def test_pause_lets_the_running_task_finish_and_holds_the_next_until_resume(stack: Stack) -> None:
    project = await setup(stack, "pause")
    async with (
        silent(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await triggered_in(deployment, context)
        await publish(stack, task_event(triggered, "started"))

        await control(stack, project, context, "pause")
        await wait_state(stack, project, context, "paused")

        # The running task is not interrupted: its .finished is taken while paused ...
        await publish(stack, task_event(triggered, "finished"))

        async def deployment_done() -> bool:
            [execution] = await executions(stack, project, context)
            return [t["name"] for t in execution["status"]["previousTasks"]] == ["deployment"]

        await eventually(deployment_done, "deployment recorded as done")
        assert await open_triggered(stack, "deployment", project=project) == []
        # ... but the next task waits for the resume.
        await asyncio.sleep(QUIET_S)
        assert tester.received == []
        assert "sh.keptn.event.test.triggered" not in await types_of(stack, project, context)
        assert await state_of(stack, project, context) == "paused"
        [execution] = await executions(stack, project, context)
        assert execution["status"]["state"] == "paused"

        await control(stack, project, context, "resume")
        await stack.wait_for(project, context, "sh.keptn.event.test.triggered")
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished"))
        assert finished["data"]["result"] == "pass"
        assert len(tester.received) == 1


async def test_a_paused_context_starts_its_next_stage_paused(stack: Stack) -> None:
    """A pause holds the whole keptnContext: a stage triggered while it is paused waits for the resume."""
    project = await setup(stack, "pausestage", TWO_STAGES)
    async with (
        ScopedExecutor(stack, "deployment", project) as deployment,
        silent(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        test_triggered = await triggered_in(tester, context)
        await control(stack, project, context, "pause")
        await wait_state(stack, project, context, "paused")

        # dev's last task completes while paused: dev finishes and staging is triggered, but paused.
        await publish(stack, task_event(test_triggered, "started"))
        await publish(stack, task_event(test_triggered, "finished"))
        await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
        await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.triggered")
        await wait_execution_state(stack, project, context, "paused")
        await asyncio.sleep(QUIET_S)
        assert deployment.stages() == ["dev"]
        assert await state_of(stack, project, context) == "paused"

        await control(stack, project, context, "resume")
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.finished"))
    assert finished["data"]["result"] == "pass"
    assert deployment.stages() == ["dev", "staging"]
    await wait_state(stack, project, context, "finished")


async def test_abort_finishes_a_running_sequence_aborted_without_follow_up(stack: Stack) -> None:
    project = await setup(stack, "abort", TWO_STAGES)
    async with (
        silent(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await triggered_in(deployment, context)
        await publish(stack, task_event(triggered, "started"))
        assert len(await open_triggered(stack, "deployment", project=project)) == 1

        await control(stack, project, context, "abort")
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished"))
        await wait_state(stack, project, context, "aborted")

        # An answer arriving after the abort is dropped.
        await publish(stack, task_event(triggered, "finished"))
        await stack.wait_for(project, context, "sh.keptn.event.deployment.finished")
        await asyncio.sleep(QUIET_S)

    assert (finished["data"]["status"], finished["data"]["result"]) == ("aborted", "pass")
    trigger = only(await stack.events(project, context, "sh.keptn.event.dev.delivery.triggered"))
    assert finished["triggeredid"] == trigger["id"]
    assert await open_triggered(stack, "deployment", project=project) == []
    assert tester.received == []
    types = await types_of(stack, project, context)
    assert "sh.keptn.event.test.triggered" not in types
    # dev.delivery.finished with pass would trigger staging; an abort does not.
    assert not [t for t in types if ".staging." in t], types
    [state] = await stack.sequence_states(project, context)
    assert state["state"] == "aborted"
    assert state["stages"][0]["state"] == "aborted"
    execution = await wait_execution_state(stack, project, context, "aborted")
    assert execution["scope"]["status"] == "aborted"


async def test_abort_of_a_queued_sequence_removes_it_and_the_running_one_continues(stack: Stack) -> None:
    project = await setup(stack, "abortqueued")
    async with (
        silent(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "test", project) as tester,
    ):
        first = await stack.trigger(project, "dev", "delivery", "carts")
        running = await triggered_in(deployment, first)
        await publish(stack, task_event(running, "started"))

        # A second sequence for the same service queues behind the first.
        second = await stack.trigger(project, "dev", "delivery", "carts")
        await wait_state(stack, project, second, "waiting")

        await control(stack, project, second, "abort")
        aborted = only(await stack.wait_for(project, second, "sh.keptn.event.dev.delivery.finished"))
        assert (aborted["data"]["status"], aborted["data"]["result"]) == ("aborted", "pass")
        await wait_state(stack, project, second, "aborted")

        # The first one was not disturbed and completes.
        assert await state_of(stack, project, first) == "started"
        await publish(stack, task_event(running, "finished"))
        finished = only(await stack.wait_for(project, first, "sh.keptn.event.dev.delivery.finished"))
        assert finished["data"]["result"] == "pass"

    # The aborted sequence never sent a task.
    assert await types_of(stack, project, second) == [
        "sh.keptn.event.dev.delivery.triggered",
        "sh.keptn.event.dev.delivery.finished",
    ]
    assert [e["shkeptncontext"] for e in deployment.received] == [first]
    assert [e["shkeptncontext"] for e in tester.received] == [first]
