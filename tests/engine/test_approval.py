"""Approvals (approval-service, BEHAVIOR d.1; shipyard-controller `waitingForApproval`, b.4 steps 3 and 5).

A production delivery that starts with an `approval` task whose properties say `pass: automatic,
warning: manual` — the onboarding-carts setup of Keptn's tutorials (the copy of onboarding-carts in the
reference examples has no approval task, so this shipyard adds one):

* a delivery whose quality gate passed is approved by approval-service at once (approval.started, then
  approval.finished pass) and goes on to deployment and release;
* one whose quality gate only warned waits for a human: the sequence is `waitingForApproval`, its open
  approval.triggered is listed by GET /event/triggered, and it does not hold the service's queue — another
  sequence of the same service runs meanwhile. A user's approval.finished through the API decides: pass
  continues the delivery, fail ends it with result fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.harness import Reply, Stack
from tests.engine.support import (
    ScopedExecutor,
    approval_service,
    eventually,
    only,
    open_triggered,
    publish,
    task_event,
    types_of,
    wait_execution_state,
    wait_state,
)
from tests.fixtures.databases import unique_name

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: carts-with-approval}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: evaluation}]
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment, properties: {deploymentstrategy: blue_green_service}}, {name: evaluation}]
    - name: production
      sequences:
        - name: delivery
          triggeredOn: [{event: staging.delivery.finished}]
          tasks:
            - {name: approval, properties: {pass: automatic, warning: manual}}
            - {name: deployment, properties: {deploymentstrategy: blue_green_service}}
            - {name: release}
        - name: delivery-direct
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: release}]
"""


def quality_gate(staging_result: str) -> Any:
    """lighthouse: dev passes; staging's result is the scenario's."""

    async def evaluate(triggered: dict[str, Any]) -> Reply:
        result = staging_result if triggered["data"]["stage"] == "staging" else "pass"
        score = {"pass": 100, "warning": 75}[result]
        return Reply(result=result, data={"evaluation": {"result": result, "score": score}})

    return evaluate


async def setup(stack: Stack, prefix: str) -> str:
    project = unique_name(prefix)
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    return project


async def test_passed_quality_gate_is_approved_automatically(stack: Stack) -> None:
    project = await setup(stack, "autoapproval")
    async with (
        ScopedExecutor(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "evaluation", project, quality_gate("pass")),
        ScopedExecutor(stack, "release", project) as release,
        approval_service(stack, project) as approval,
    ):
        context = await stack.trigger(
            project, "dev", "delivery", "carts", configurationChange={"values": {"image": "carts:3"}}
        )
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.production.delivery.finished"))
        await wait_state(stack, project, context, "finished")

    assert (finished["data"]["result"], finished["data"]["status"]) == ("pass", "succeeded")
    asked = only(approval.received)
    assert asked["data"]["stage"] == "production"
    assert asked["data"]["approval"] == {"pass": "automatic", "warning": "manual"}
    assert asked["data"]["result"] == "pass"  # the result staging finished with
    approved = only(await stack.events(project, context, "sh.keptn.event.approval.finished"))
    assert approved["data"]["result"] == "pass" and approved["triggeredid"] == asked["id"]
    assert deployment.stages() == ["dev", "staging", "production"]
    assert release.stages() == ["production"]
    assert release.received[0]["data"]["configurationChange"]["values"]["image"] == "carts:3"
    for stage in ("dev", "staging", "production"):
        done = only(await stack.events(project, context, f"sh.keptn.event.{stage}.delivery.finished"))
        assert done["data"]["result"] == "pass", stage


@pytest.mark.parametrize("decision", ["pass", "fail"], ids=["approved", "declined"])
async def test_warning_waits_for_a_manual_approval_without_blocking_the_service(
    stack: Stack, decision: str
) -> None:
    project = await setup(stack, "manualapproval")
    async with (
        ScopedExecutor(stack, "deployment", project) as deployment,
        ScopedExecutor(stack, "evaluation", project, quality_gate("warning")),
        ScopedExecutor(stack, "release", project) as release,
        approval_service(stack, project) as approval,
    ):
        context = await stack.trigger(
            project, "dev", "delivery", "carts", configurationChange={"values": {"image": "carts:4"}}
        )
        staging = only(await stack.wait_for(project, context, "sh.keptn.event.staging.delivery.finished"))
        assert staging["data"]["result"] == "warning"

        # approval-service only acknowledges: a warning needs a human.
        await stack.wait_for(project, context, "sh.keptn.event.approval.started")
        waiting = await wait_execution_state(stack, project, context, "waitingForApproval")
        assert (waiting["scope"]["stage"], waiting["status"]["currentTask"]["name"]) == (
            "production",
            "approval",
        )
        [state] = await stack.sequence_states(project, context)
        assert state["state"] == "started"
        production = [s for s in state["stages"] if s["name"] == "production"]
        assert production and production[0]["state"] == "triggered"
        asked = only(approval.received)
        assert asked["data"]["result"] == "warning"
        listed = only(
            await open_triggered(stack, "approval", project=project, stage="production", service="carts")
        )
        assert listed["id"] == asked["id"]

        # Waiting for approval does not hold the service: another production sequence runs to the end.
        other = await stack.trigger(project, "production", "delivery-direct", "carts")
        direct = only(
            await stack.wait_for(project, other, "sh.keptn.event.production.delivery-direct.finished")
        )
        assert direct["data"]["result"] == "pass"
        assert "sh.keptn.event.deployment.triggered" not in [
            t for t in await _production_types(stack, project, context)
        ]

        # A user decides (CLI/Bridge post approval.finished answering the open approval.triggered).
        await publish(
            stack, task_event(asked, "finished", source="https://github.com/keptn/keptn/cli", result=decision)
        )
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.production.delivery.finished"))
        await wait_state(stack, project, context, "finished")
        assert await open_triggered(stack, "approval", project=project) == []

    assert finished["data"]["result"] == decision
    if decision == "pass":
        assert [e["shkeptncontext"] for e in release.received] == [other, context]
        production_deployment = [e for e in deployment.received if e["shkeptncontext"] == context][-1]
        assert production_deployment["data"]["stage"] == "production"
        assert production_deployment["data"]["configurationChange"]["values"]["image"] == "carts:4"
    else:
        assert [e["shkeptncontext"] for e in release.received] == [other]
        assert deployment.stages().count("production") == 1  # only the direct delivery's
    approvals = await stack.events(project, context, "sh.keptn.event.approval.finished")
    assert only(approvals)["source"] == "https://github.com/keptn/keptn/cli"


async def _production_types(stack: Stack, project: str, context: str) -> list[str]:
    events = await stack.events(project, context)
    return [e["type"] for e in events if (e.get("data") or {}).get("stage") == "production"]


async def test_open_approval_is_listed_until_answered(stack: Stack) -> None:
    """GET /event/triggered/sh.keptn.event.approval.triggered is how the Bridge finds pending approvals."""
    project = await setup(stack, "pendingapproval")
    async with approval_service(stack, project):
        context = await stack.trigger(project, "production", "delivery", "carts")
        # No previous result and no evaluation: approval-service falls back to manual.
        await stack.wait_for(project, context, "sh.keptn.event.approval.started")
        pending = await eventually(
            lambda: open_triggered(stack, "approval", project=project), "an open approval.triggered"
        )
        r = await stack.control(project, context, "abort")
        assert r.status_code == 200, r.text
        await wait_state(stack, project, context, "aborted")
    assert only(pending)["shkeptncontext"] == context
    assert await open_triggered(stack, "approval", project=project) == []
    assert "sh.keptn.event.deployment.triggered" not in await types_of(stack, project, context)
