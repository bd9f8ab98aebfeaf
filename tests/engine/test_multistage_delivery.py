"""A delivery through every stage of Keptn's onboarding-carts example (shipyard-controller component test
`Scenario1`): dev -> staging -> production, chained by `triggeredOn: <stage>.delivery.finished`.

Each stage runs deployment, test, evaluation and release (production: deployment, release) answered by
execution-plane services. The whole delivery shares one keptnContext; what a task reports in its `.finished`
is merged into every later `.triggered` of the stage, and the trigger payload (the image) travels with the
sequence into the next stages.
"""

from __future__ import annotations

from typing import Any

from tests.engine.harness import Reply, Stack
from tests.engine.support import ScopedExecutor, only, types_of, wait_state
from tests.fixtures.databases import unique_name

IMAGE = "docker.io/keptnexamples/carts:0.13.1"


async def deployed(triggered: dict[str, Any]) -> Reply:
    stage = triggered["data"]["stage"]
    return Reply(
        data={
            "deployment": {
                "deploymentURIsLocal": [f"http://carts.{stage}:80"],
                "deploymentNames": ["carts-primary"],
            }
        }
    )


async def evaluated(_triggered: dict[str, Any]) -> Reply:
    return Reply(data={"evaluation": {"result": "pass", "score": 100}})


async def test_onboarding_carts_delivers_through_dev_staging_and_production(stack: Stack) -> None:
    project = unique_name("carts")
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")
    async with (
        ScopedExecutor(stack, "deployment", project, deployed) as deployment,
        ScopedExecutor(stack, "test", project) as tester,
        ScopedExecutor(stack, "evaluation", project, evaluated) as evaluation,
        ScopedExecutor(stack, "release", project) as release,
    ):
        context = await stack.trigger(
            project, "dev", "delivery", "carts", configurationChange={"values": {"image": IMAGE}}
        )
        await stack.wait_for(project, context, "sh.keptn.event.production.delivery.finished")
        await wait_state(stack, project, context, "finished")

    # Every stage ran its tasks, in stage order, once.
    assert deployment.stages() == ["dev", "staging", "production"]
    assert tester.stages() == ["dev", "staging"]
    assert evaluation.stages() == ["dev", "staging"]
    assert release.stages() == ["dev", "staging", "production"]

    # One keptnContext for the whole delivery; the stages follow each other.
    events = await stack.events(project, context)
    assert {e["shkeptncontext"] for e in events} == {context}
    sequence_events = [t for t in await types_of(stack, project, context) if t.count(".") == 5]
    assert sequence_events == [
        "sh.keptn.event.dev.delivery.triggered",
        "sh.keptn.event.dev.delivery.finished",
        "sh.keptn.event.staging.delivery.triggered",
        "sh.keptn.event.staging.delivery.finished",
        "sh.keptn.event.production.delivery.triggered",
        "sh.keptn.event.production.delivery.finished",
    ]
    for stage in ("dev", "staging", "production"):
        finished = only(await stack.events(project, context, f"sh.keptn.event.{stage}.delivery.finished"))
        assert finished["data"]["result"] == "pass", finished
        assert finished["data"]["status"] == "succeeded", finished
        assert finished["source"] == "shipyard-controller"
        trigger = only(await stack.events(project, context, f"sh.keptn.event.{stage}.delivery.triggered"))
        assert finished["triggeredid"] == trigger["id"]
    # Nothing failed, so no rollback was triggered.
    assert not [t for t in await types_of(stack, project, context) if "rollback" in t]

    # The shipyard's task properties arrive under the task's name.
    strategies = [e["data"]["deployment"]["deploymentstrategy"] for e in deployment.received]
    assert strategies == ["direct", "blue_green_service", "blue_green_service"]
    assert [e["data"]["test"]["teststrategy"] for e in tester.received] == ["functional", "performance"]

    # The image of the trigger reaches production.
    for event in deployment.received + release.received:
        assert event["data"]["configurationChange"]["values"]["image"] == IMAGE, event["data"]["stage"]

    # What deployment reported is merged into the later tasks of its stage (and the stage is not mixed up).
    dev_test, staging_test = tester.received
    assert dev_test["data"]["deployment"]["deploymentURIsLocal"] == ["http://carts.dev:80"]
    # The staging payload carries dev's; lists merge with the new items first (Keptn #7627).
    assert staging_test["data"]["deployment"]["deploymentURIsLocal"] == [
        "http://carts.staging:80",
        "http://carts.dev:80",
    ]
    assert dev_test["data"]["result"] == "pass" and dev_test["data"]["status"] == "succeeded"
    assert release.received[1]["data"]["evaluation"] == {"result": "pass", "score": 100}

    # Every task event is pinned to the shipyard commit the delivery started with.
    commits = {e.get("gitcommitid") for e in events if e["source"] == "shipyard-controller"}
    assert len(commits) == 1 and None not in commits
