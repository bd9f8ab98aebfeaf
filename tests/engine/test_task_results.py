"""How the results of tasks steer a sequence (shipyard-controller component tests `Scenario3`, `Scenario4`,
`Scenario4a`, `TriggerOnFail`; model tests "multiple executors - one of them failed/warning"):

* a task that fails (result `fail`, or status `errored`) ends its sequence with that result; the stage's
  `<stage>.delivery.finished` says so, no next stage is triggered, and a `triggeredOn` with the selector
  `result: fail` (a rollback) is;
* with several executors on one task, any `fail` fails the task; a `warning` does not stop the sequence, it is
  passed on to the next task and, from the last task, becomes the sequence's result — which, being no failure,
  still triggers the next stage.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    only,
    publish,
    silent,
    task_event,
    types_of,
    wait_state,
)
from tests.fixtures.databases import unique_name

IMAGE = "docker.io/keptnexamples/carts:0.13.2"


# ---- a failing stage triggers its rollback --------------------------------------------------------------


@pytest.mark.parametrize(
    ("failing_task", "result", "status"),
    [("evaluation", "fail", "succeeded"), ("deployment", "fail", "errored")],
    ids=["evaluation-fails", "deployment-errors"],
)
async def test_failed_stage_triggers_rollback_and_not_the_next_stage(
    stack: Stack, failing_task: str, result: str, status: str
) -> None:
    project = unique_name("rollback")
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")

    def answer(task: str) -> Any:
        if task == failing_task:
            return replying(Reply(result=result, status=status, message=f"{task} went wrong"))
        return replying(Reply())

    async with (
        ScopedExecutor(stack, "deployment", project, answer("deployment")) as deployment,
        ScopedExecutor(stack, "test", project, answer("test")),
        ScopedExecutor(stack, "evaluation", project, answer("evaluation")),
        ScopedExecutor(stack, "release", project) as release,
        ScopedExecutor(stack, "rollback", project) as rollback,
    ):
        context = await stack.trigger(
            project, "staging", "delivery", "carts", configurationChange={"values": {"image": IMAGE}}
        )
        await stack.wait_for(project, context, "sh.keptn.event.staging.rollback.finished")
        await wait_state(stack, project, context, "finished")

    delivery = only(await stack.events(project, context, "sh.keptn.event.staging.delivery.finished"))
    assert (delivery["data"]["result"], delivery["data"]["status"]) == (result, status)
    assert delivery["data"]["message"] == f"{failing_task} went wrong"

    # The sequence stopped at the failing task, and the stage's rollback ran in the same context.
    assert release.received == []
    if failing_task == "deployment":
        assert "sh.keptn.event.test.triggered" not in await types_of(stack, project, context)
    assert deployment.stages() == ["staging"]
    assert rollback.stages() == ["staging"]
    assert rollback.received[0]["data"]["configurationChange"]["values"]["image"] == IMAGE
    rolled_back = only(await stack.events(project, context, "sh.keptn.event.staging.rollback.finished"))
    assert rolled_back["data"]["result"] == "pass"

    # A failed delivery is not promoted: production never starts.
    assert not [t for t in await types_of(stack, project, context) if ".production." in t]


async def test_successful_stage_does_not_trigger_its_rollback(stack: Stack) -> None:
    """The selector `result: fail` must not fire on pass (the other half of `TriggerOnFail`)."""
    project = unique_name("norollback")
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")
    async with (
        ScopedExecutor(stack, "deployment", project),
        ScopedExecutor(stack, "release", project),
        ScopedExecutor(stack, "rollback", project) as rollback,
    ):
        context = await stack.trigger(project, "staging", "delivery-direct", "carts")
        await stack.wait_for(project, context, "sh.keptn.event.production.delivery-direct.finished")
    assert rollback.received == []
    assert not [t for t in await types_of(stack, project, context) if "rollback" in t]


# ---- several executors on one task ----------------------------------------------------------------------

TWO_EXECUTORS = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: two-executors}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}, {name: test}, {name: release}]
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment}]
"""


async def answer_together(stack: Stack, triggered: dict[str, Any], results: dict[str, str]) -> None:
    """Two (or more) executors answer one task: every `.started` first, then every `.finished`.

    The order is chosen by hand because Keptn completes a task as soon as #finished == #started: if one
    executor's `.finished` arrived before the other's `.started`, the task would be over without it (Keptn
    #2159) — real executors racing would make the scenario flaky, not different.
    """
    for source in results:
        await publish(stack, task_event(triggered, "started", source=source))
    for source, result in results.items():
        await publish(stack, task_event(triggered, "finished", source=source, result=result))


async def first_received(executor: ScopedExecutor, stage: str = "dev") -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = [e for e in executor.received if e["data"]["stage"] == stage]
        return found[0] if found else None

    return await eventually(probe, f"{executor.task}.triggered in {stage}")


async def test_one_failing_executor_fails_the_task_and_stops_the_sequence(stack: Stack) -> None:
    project = unique_name("twofail")
    await stack.create_project(project, TWO_EXECUTORS)
    await stack.create_service(project, "carts")
    async with (
        silent(stack, "deployment", project, name="helm-service") as helm,
        silent(stack, "deployment", project, name="jmeter-service") as other,
        ScopedExecutor(stack, "test", project) as tester,
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await first_received(helm)
        await first_received(other)  # both queue groups got the task
        await answer_together(stack, triggered, {"helm-service": "fail", "jmeter-service": "pass"})
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished"))
        await wait_state(stack, project, context, "finished")

    assert (finished["data"]["result"], finished["data"]["status"]) == ("fail", "succeeded")
    assert tester.received == []
    types = await types_of(stack, project, context)
    assert "sh.keptn.event.test.triggered" not in types
    assert "sh.keptn.event.staging.delivery.triggered" not in types
    # The task completed only once both executors had answered.
    deployment_events = [t for t in types if t.startswith("sh.keptn.event.deployment.")]
    assert deployment_events.count("sh.keptn.event.deployment.finished") == 2


async def test_a_warning_executor_does_not_stop_the_sequence_and_its_result_propagates(
    stack: Stack,
) -> None:
    project = unique_name("twowarn")
    await stack.create_project(project, TWO_EXECUTORS)
    await stack.create_service(project, "carts")
    async with (
        silent(stack, "deployment", project, name="helm-service") as helm,
        silent(stack, "deployment", project, name="jmeter-service"),
        ScopedExecutor(stack, "test", project) as tester,
        silent(stack, "release", project, name="release-a") as release,
        silent(stack, "release", project, name="release-b"),
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        triggered = await first_received(helm)
        await answer_together(stack, triggered, {"helm-service": "pass", "jmeter-service": "warning"})

        # The next task runs, and sees the aggregated result of the previous one.
        test_triggered = await first_received(tester)
        assert test_triggered["data"]["result"] == "warning"
        assert test_triggered["data"]["status"] == "succeeded"

        # A warning from the last task is the sequence's result.
        release_triggered = await first_received(release)
        assert release_triggered["data"]["result"] == "pass"  # test passed
        await answer_together(stack, release_triggered, {"release-a": "warning", "release-b": "pass"})
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished"))
        assert (finished["data"]["result"], finished["data"]["status"]) == ("warning", "succeeded")

        # A warning is no failure: the next stage is triggered, and its first task sees the warning.
        staging_deployment = await first_received(helm, "staging")
        assert staging_deployment["data"]["result"] == "warning"
        await answer_together(stack, staging_deployment, {"helm-service": "pass", "jmeter-service": "pass"})
        staging = only(await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.finished"))
        assert staging["data"]["result"] == "pass"
