"""Keptn's sequence scenarios on the real engine (ported from shipyard-controller component tests)."""

from __future__ import annotations

from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import ScopedExecutor
from tests.fixtures.databases import unique_name

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: test}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: test}, {name: evaluation}]
    - name: hardening
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment}, {name: release}]
        - name: rollback
          triggeredOn: [{event: hardening.delivery.finished, selector: {match: {result: fail}}}]
          tasks: [{name: rollback}]
"""


async def test_single_stage_delivery_runs_tasks_in_order(stack: Stack) -> None:
    project = unique_name("seq")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    async with (
        ScopedExecutor(stack, "deployment", project) as deploy,
        ScopedExecutor(stack, "test", project) as tester,
        ScopedExecutor(
            stack,
            "evaluation",
            project,
            replying(Reply(data={"evaluation": {"result": "pass", "score": 100}})),
        ),
    ):
        context = await stack.trigger(
            project, "dev", "delivery", "carts", configurationChange={"values": {"image": "carts:1"}}
        )
        finished = await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
    assert finished[0]["data"]["result"] == "pass" and finished[0]["data"]["status"] == "succeeded"
    types = [e["type"] for e in await stack.events(project, context)]
    order = [t for t in types if t.endswith(".triggered") and t.count(".") == 4]
    assert order[:3] == [
        "sh.keptn.event.deployment.triggered",
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.evaluation.triggered",
    ]
    assert deploy.received[0]["data"]["deployment"] == {"deploymentstrategy": "direct"}
    assert deploy.received[0]["data"]["configurationChange"]["values"]["image"] == "carts:1"
    assert tester.received[0]["data"]["result"] == "pass"
