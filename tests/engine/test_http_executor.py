"""A remote execution-plane service without NATS (cp-connector's HTTP event source, Keptn 0.17+; the 0.8
distributor's `KEPTN_API_ENDPOINT` mode; BEHAVIOR e): it polls GET /api/controlPlane/v1/event/triggered/
<type>?project=&stage=&service= for open `.triggered` events, keeps a cache of the ids it has seen, and
answers through POST /api/v1/event.

It must be able to run a sequence on its own: each task's `.triggered` is listed while it is open — and
only then — and answers given through the API reach the sequence like those on NATS.
"""

from __future__ import annotations

from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import PollingExecutor, eventually, only, open_triggered, wait_state
from tests.fixtures.databases import unique_name

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: remote}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: test}, {name: release}]
"""


async def test_http_polling_executors_run_a_sequence(stack: Stack) -> None:
    project = unique_name("remote")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    async with (
        PollingExecutor(
            stack,
            "deployment",
            project=project,
            stage="dev",
            service="carts",
            answer=replying(Reply(data={"deployment": {"deploymentNames": ["carts"]}})),
        ) as deployment,
        PollingExecutor(stack, "test", project=project) as tester,
        PollingExecutor(stack, "release", project=project, stage="dev") as release,
    ):
        context = await stack.trigger(
            project, "dev", "delivery", "carts", configurationChange={"values": {"image": "carts:2"}}
        )
        finished = only(await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished"))
        await wait_state(stack, project, context, "finished")
        # Pollers keep polling after the sequence is over; nothing is answered twice.
        polls = deployment.polls

        async def polled_twice_more() -> bool:
            return deployment.polls >= polls + 2

        await eventually(polled_twice_more, "two more polls")

    assert (finished["data"]["result"], finished["data"]["status"]) == ("pass", "succeeded")
    for executor in (deployment, tester, release):
        assert len(executor.received) == 1, executor.task
        assert len(executor.seen) == 1
    # What the poller got is the event the sequence sent, with the merged payload.
    got = deployment.received[0]
    assert got["data"]["deployment"] == {"deploymentstrategy": "direct"}
    assert got["data"]["configurationChange"]["values"]["image"] == "carts:2"
    assert tester.received[0]["data"]["deployment"]["deploymentNames"] == ["carts"]
    sent = only(await stack.events(project, context, "sh.keptn.event.deployment.triggered"))
    assert got["id"] == sent["id"] and got["shkeptncontext"] == context
    # Every answer went through the API, one .started and one .finished per task.
    for task in ("deployment", "test", "release"):
        only(await stack.events(project, context, f"sh.keptn.event.{task}.started"))
        only(await stack.events(project, context, f"sh.keptn.event.{task}.finished"))
    # Answered tasks are no longer open.
    for task in ("deployment", "test", "release"):
        assert await open_triggered(stack, task, project=project) == []


async def test_open_triggered_events_are_filtered_by_project_stage_and_service(stack: Stack) -> None:
    """The poller's filters are the API's: an open task of another service or stage is not listed."""
    project = unique_name("remotefilter")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    await stack.create_service(project, "orders")
    context = await stack.trigger(project, "dev", "delivery", "carts")
    await stack.wait_for(project, context, "sh.keptn.event.deployment.triggered")
    assert len(await open_triggered(stack, "deployment", project=project, stage="dev")) == 1
    assert len(await open_triggered(stack, "deployment", project=project, service="carts")) == 1
    assert await open_triggered(stack, "deployment", project=project, service="orders") == []
    assert await open_triggered(stack, "deployment", project=project, stage="staging") == []
    assert await open_triggered(stack, "test", project=project) == []
    r = await stack.control(project, context, "abort")
    assert r.status_code == 200, r.text
    await wait_state(stack, project, context, "aborted")
    assert await open_triggered(stack, "deployment", project=project) == []
