"""Execution-plane services the way Keptn's cp-connector runs them: register, learn subscriptions from the
ping, receive `.triggered` over NATS (core queue group, or the integration's JetStream durable consumer when
it was down), answer `.started`/`.finished`. Also what the engine keeps current for the Bridge and the CLI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from eventbus.integrations import consumer_name
from keptn_temporal.search_attributes import KEPTN_PROJECT
from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import ScopedExecutor
from tests.engine.test_delivery import SHIPYARD
from tests.fixtures.databases import unique_name

CP = "/api/controlPlane/v1"


async def register(stack: Stack, name: str, event: str, project: str) -> tuple[str, list[dict[str, Any]]]:
    integration = {
        "name": name,
        "metadata": {
            "hostname": "node-1",
            "integrationversion": "1.0.0",
            "distributorversion": "1.4.5",
            "location": "remote-execution-plane",
            "kubernetesmetadata": {"namespace": "keptn", "podname": f"{name}-0", "deploymentname": name},
        },
        "subscriptions": [{"event": event, "filter": {"projects": [project], "stages": [], "services": []}}],
    }
    r = await stack.api.post(f"{CP}/uniform/registration", json=integration)
    assert r.status_code in (200, 201), r.text
    integration_id = r.json()["id"]
    # cp-connector's subscription source: the ping answer carries the current subscriptions.
    ping = await stack.api.put(f"{CP}/uniform/registration/{integration_id}/ping")
    assert ping.status_code == 200, ping.text
    return integration_id, ping.json()["subscriptions"]


async def test_cp_connector_style_integration_over_core_nats(stack: Stack) -> None:
    project = unique_name("cpc")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    _, subscriptions = await register(
        stack, unique_name("helm"), "sh.keptn.event.deployment.triggered", project
    )
    assert [s["event"] for s in subscriptions] == ["sh.keptn.event.deployment.triggered"]
    async with (
        ScopedExecutor(
            stack, "deployment", project, replying(Reply(data={"deployment": {"image": "carts:2"}}))
        ),
        ScopedExecutor(stack, "test", project),
        ScopedExecutor(stack, "evaluation", project),
    ):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        finished = await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
    assert finished[0]["data"]["result"] == "pass"

    # lastEventTypes and deployedImage, as Keptn's project view shows them.
    service = (await stack.api.get(f"{CP}/project/{project}/stage/dev/service/carts")).json()
    assert "sh.keptn.event.deployment.finished" in service["lastEventTypes"]
    assert service["lastEventTypes"]["sh.keptn.event.deployment.finished"]["keptnContext"] == context
    assert service["deployedImage"] == "carts:2"

    # The Temporal Web UI can filter by project (visibility is eventually consistent).
    for _ in range(50):
        found = [w async for w in stack.temporal.list_workflows(f'{KEPTN_PROJECT.name}="{project}"')]
        if any(context in w.id for w in found):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"no workflow of project {project} in visibility")


async def test_integration_that_was_down_gets_missed_events_from_its_durable_consumer(stack: Stack) -> None:
    project = unique_name("durable")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    name = unique_name("job-executor")
    await register(stack, name, "sh.keptn.event.deployment.triggered", project)

    # The executor is down while the task is triggered...
    async with ScopedExecutor(stack, "test", project), ScopedExecutor(stack, "evaluation", project):
        context = await stack.trigger(project, "dev", "delivery", "carts")
        await stack.wait_for(project, context, "sh.keptn.event.deployment.triggered")

        # ...and catches up when it comes back, from its own durable consumer.
        js = stack.nc.jetstream()
        sub = await js.pull_subscribe_bind(durable=consumer_name(name), stream=stack.settings.stream_name)
        answered = 0
        for _ in range(20):
            try:
                msgs = await sub.fetch(10, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                triggered = json.loads(msg.data)
                if triggered["shkeptncontext"] == context:
                    scope = {k: triggered["data"][k] for k in ("project", "stage", "service")}
                    await stack.send(
                        "sh.keptn.event.deployment.started", triggered, scope | {"status": "succeeded"}, False
                    )
                    await stack.send(
                        "sh.keptn.event.deployment.finished",
                        triggered,
                        scope | {"status": "succeeded", "result": "pass"},
                        False,
                    )
                    answered += 1
                await msg.ack()
            if answered:
                break
        await sub.unsubscribe()
        assert answered == 1
        finished = await stack.wait_for(project, context, "sh.keptn.event.dev.delivery.finished")
    assert finished[0]["data"]["result"] == "pass"
