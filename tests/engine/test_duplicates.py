"""Redelivered task events are counted once (our fix of Keptn's counting, BEHAVIOR b.4 step 6: Keptn stored no
event id and a duplicate `.started`/`.finished` could complete a task early, or never).

A CloudEvent id is the identity of an answer: the same id arriving again — NATS redelivery, an executor's retry,
or the same event sent both on NATS and through the API — changes nothing. The task completes once, after
every executor answered, and exactly one next `.triggered` is sent.
"""

from __future__ import annotations

from typing import Any

from tests.engine.harness import Stack
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    only,
    publish,
    silent,
    task_event,
    wait_state,
)
from tests.fixtures.databases import unique_name

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: duplicates}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}, {name: test}]
"""


async def setup(stack: Stack, prefix: str) -> str:
    project = unique_name(prefix)
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    return project


async def received(executor: ScopedExecutor) -> dict[str, Any]:
    return await eventually(
        lambda: _first(executor), f"{executor.task}.triggered at {executor.name}", timeout_s=20
    )


async def _first(executor: ScopedExecutor) -> dict[str, Any] | None:
    return executor.received[0] if executor.received else None


async def test_a_repeated_finished_does_not_complete_a_task_another_executor_still_runs(
    stack: Stack,
) -> None:
    project = await setup(stack, "dupfinished")
    async with (
        silent(stack, "deployment", project, name="helm-service") as helm,
        silent(stack, "deployment", project, name="other-service"),
        ScopedExecutor(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await received(helm)
        await publish(stack, task_event(triggered, "started", source="helm-service"))
        await publish(stack, task_event(triggered, "started", source="other-service"))

        # helm-service's .finished arrives three times: twice on NATS, once through the API.
        helm_finished = task_event(
            triggered, "finished", source="helm-service", deployment={"deploymentNames": ["helm"]}
        )
        await publish(stack, helm_finished)
        await publish(stack, helm_finished, via_api=True)
        await publish(stack, helm_finished)
        # Counted twice, it would have matched the two .started and completed the task before this one.
        await publish(
            stack,
            task_event(
                triggered, "finished", source="other-service", deployment={"deploymentURIsLocal": ["x"]}
            ),
        )
        await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
        await wait_state(stack, project, context, "finished")

    # The next task was triggered once, after both executors answered: it carries both answers.
    test_triggered = only(await stack.events(project, context, "sh.keptn.event.test.triggered"))
    assert test_triggered["data"]["deployment"] == {
        "deploymentNames": ["helm"],
        "deploymentURIsLocal": ["x"],
    }
    assert len(tester.received) == 1
    # The event store, too, holds the repeated event once.
    finished = await stack.events(project, context, "sh.keptn.event.deployment.finished")
    assert sorted(e["source"] for e in finished) == ["helm-service", "other-service"]


async def test_repeated_started_and_finished_of_one_executor_count_once(stack: Stack) -> None:
    project = await setup(stack, "dupboth")
    async with (
        silent(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await received(deployment)
        started = task_event(triggered, "started")
        finished = task_event(triggered, "finished")
        # Counted twice, two .started against one .finished would keep the task open forever.
        await publish(stack, started)
        await publish(stack, started, via_api=True)
        await publish(stack, finished, via_api=True)
        await stack.wait_for(project, context, "sh.keptn.event.test.triggered")
        # A .finished repeated after the task completed answers no open task any more.
        await publish(stack, finished)
        await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
        await wait_state(stack, project, context, "finished")

    assert len(tester.received) == 1
    only(await stack.events(project, context, "sh.keptn.event.test.triggered"))
    only(await stack.events(project, context, "sh.keptn.event.deployment.started"))
    only(await stack.events(project, context, "sh.keptn.event.deployment.finished"))
    sequence_finished = only(await stack.events(project, context, "sh.keptn.event.dev.delivery.finished"))
    assert sequence_finished["data"]["result"] == "pass"
    execution = only(
        (
            await stack.api.get(
                "/api/controlPlane/v1/sequence-execution",
                params={"project": project, "keptnContext": context},
            )
        ).json()["sequenceExecutions"]
    )
    assert [t["name"] for t in execution["status"]["previousTasks"]] == ["deployment", "test"]
    assert [t["name"] for t in execution["sequence"]["tasks"]] == ["deployment", "test"]
