"""Tasks nobody completes time out (shipyard-controller `sequencewatcher`, component test `TimeoutSequence`;
BEHAVIOR b.4 step 9):

* no `.started` or `.finished` within TASK_STARTED_WAIT_DURATION: the sequence ends `timedOut`, its
  `<stage>.<seq>.finished` is errored/fail with Keptn's message naming the task's `.triggered` type;
* ours in addition (Keptn #7407 waited forever): a task whose `.started` never got its `.finished` within
  TASK_FINISHED_WAIT_DURATION ends the same way, with its own message.

Either way the next task is not triggered, the task's `.triggered` is no longer open, a late answer changes
nothing, and — as in Keptn, where a timeout only completes the sequence — no `triggeredOn` sequence follows,
not even a rollback listening for `result: fail`.

The timeouts are shortened for one test by swapping the router's settings: they are copied into each
sequence when it is triggered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from keptn.sequence import task_finished_timeout_message, task_started_timeout_message
from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    only,
    open_triggered,
    publish,
    silent,
    task_event,
    types_of,
    wait_execution_state,
    wait_state,
)
from tests.fixtures.databases import unique_name

STARTED_MESSAGE = (
    "sequence timed out while waiting for task sh.keptn.event.deployment.triggered "
    "to receive a correlating .started or .finished event"
)


@contextmanager
def timeouts(stack: Stack, **waits: float) -> Iterator[None]:
    router: Any = stack.router  # type: ignore[attr-defined]
    saved = router.settings
    router.settings = dataclasses.replace(saved, **waits)
    try:
        yield
    finally:
        router.settings = saved


async def setup(stack: Stack, prefix: str) -> str:
    project = unique_name(prefix)
    # Staging of onboarding-carts has a rollback on `staging.delivery.finished` with result fail.
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")
    return project


async def assert_timed_out(stack: Stack, project: str, context: str, message: str) -> None:
    finished = only(
        await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.finished", timeout_s=15)
    )
    assert finished["data"]["status"] == "errored"
    assert finished["data"]["result"] == "fail"
    assert finished["data"]["message"] == message
    assert finished["source"] == "shipyard-controller"
    await wait_state(stack, project, context, "timedOut")
    execution = await wait_execution_state(stack, project, context, "timedOut")
    assert execution["scope"]["status"] == "errored" and execution["scope"]["result"] == "fail"
    [stage] = (await stack.sequence_states(project, context))[0]["stages"]
    assert stage["state"] == "errored"
    assert await open_triggered(stack, "deployment", project=project) == []


async def test_task_without_started_times_out(stack: Stack) -> None:
    project = await setup(stack, "nostarted")
    with timeouts(stack, task_started_wait_s=2):
        async with (
            silent(stack, "deployment", project) as deployment,
            ScopedExecutor(stack, "test", project) as tester,
            ScopedExecutor(stack, "rollback", project) as rollback,
        ):
            context = await stack.trigger(project, "staging", "delivery", "carts")
            await eventually(lambda: _any(deployment.received), "deployment.triggered")
            assert len(await open_triggered(stack, "deployment", project=project)) == 1

            await assert_timed_out(stack, project, context, STARTED_MESSAGE)
            assert STARTED_MESSAGE == task_started_timeout_message("sh.keptn.event.deployment.triggered")

            # An executor that answers too late is not heard: the sequence is over.
            late = deployment.received[0]
            await publish(stack, task_event(late, "started"))
            await publish(stack, task_event(late, "finished"))
            await stack.wait_for(project, context, "sh.keptn.event.deployment.finished")

    assert tester.received == [] and rollback.received == []
    types = await types_of(stack, project, context)
    assert "sh.keptn.event.test.triggered" not in types
    assert not [t for t in types if "rollback" in t or ".production." in t], types
    assert types.count("sh.keptn.event.staging.delivery.finished") == 1


async def test_task_started_but_never_finished_times_out(stack: Stack) -> None:
    project = await setup(stack, "nofinished")
    with timeouts(stack, task_finished_wait_s=2):
        async with (
            ScopedExecutor(stack, "deployment", project, replying(Reply(finish=False))) as deployment,
            ScopedExecutor(stack, "test", project) as tester,
            ScopedExecutor(stack, "rollback", project) as rollback,
        ):
            context = await stack.trigger(project, "staging", "delivery", "carts")
            await stack.wait_for(project, context, "sh.keptn.event.deployment.started")
            message = task_finished_timeout_message("sh.keptn.event.deployment.triggered")
            await assert_timed_out(stack, project, context, message)

    assert len(deployment.received) == 1
    assert tester.received == [] and rollback.received == []
    types = await types_of(stack, project, context)
    assert "sh.keptn.event.test.triggered" not in types
    assert not [t for t in types if "rollback" in t or ".production." in t], types


async def test_a_started_task_is_not_cut_off_by_the_started_timeout(stack: Stack) -> None:
    """TASK_STARTED_WAIT only covers "no answer at all": a task that started runs on past it."""
    project = await setup(stack, "slowtask")
    with timeouts(stack, task_started_wait_s=1):
        async with (
            silent(stack, "deployment", project) as deployment,
            ScopedExecutor(stack, "test", project),
            ScopedExecutor(stack, "evaluation", project),
            ScopedExecutor(stack, "release", project),
        ):
            context = await stack.trigger(project, "staging", "delivery", "carts")
            triggered = await eventually(lambda: _any(deployment.received), "deployment.triggered")
            await publish(stack, task_event(triggered, "started"))
            # Twice the started timeout later (a sleep: the only way to see something not happen), the task
            # is still running.
            await asyncio.sleep(2)
            await wait_execution_state(stack, project, context, "started", timeout_s=0)
            assert await open_triggered(stack, "deployment", project=project)
            await publish(stack, task_event(triggered, "finished"))
            finished = only(
                await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.finished")
            )
            assert finished["data"]["result"] == "pass"
            # Production follows; it is not part of this scenario and must not outlive the test.
            await stack.wait_for(project, context, "sh.keptn.event.deployment.triggered", count=2)
            r = await stack.control(project, context, "abort")
            assert r.status_code == 200, r.text
            await wait_state(stack, project, context, "aborted")


async def _any(received: list[dict[str, Any]]) -> dict[str, Any] | None:
    return received[0] if received else None
