"""A sequence that cannot start ends at once (shipyard-controller `triggerSequenceFailed`, component test
`SequenceForUnavailableStage`, zero-downtime test `Test_DeliveryFails`; BEHAVIOR b.4 step 2):

a `<stage>.<sequence>.triggered` for a stage or a sequence the shipyard does not have is answered with
`<stage>.<sequence>.finished` — status errored, result fail, Keptn's message — in the same keptnContext,
answering the trigger; no task is sent, nothing is queued, and no `triggeredOn` sequence follows.
"""

from __future__ import annotations

import pytest

from tests.engine.harness import Stack
from tests.engine.support import ScopedExecutor, only, open_triggered, types_of, wait_state
from tests.fixtures.databases import unique_name


@pytest.mark.parametrize(
    ("stage", "sequence", "message"),
    [
        ("hardening", "delivery", "Unable to start sequence delivery: no stage with name hardening"),
        (
            "dev",
            "remediation",
            "Unable to start sequence remediation: no task sequence with name remediation found in stage dev",
        ),
    ],
    ids=["unknown-stage", "unknown-sequence"],
)
async def test_sequence_that_does_not_exist_finishes_errored(
    stack: Stack, stage: str, sequence: str, message: str
) -> None:
    project = unique_name("nosequence")
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")

    context = await stack.trigger(project, stage, sequence, "carts")
    finished = only(
        await stack.wait_for(project, context, f"sh.keptn.event.{stage}.{sequence}.finished", timeout_s=10)
    )
    await wait_state(stack, project, context, "finished")

    assert finished["data"]["status"] == "errored"
    assert finished["data"]["result"] == "fail"
    assert finished["data"]["message"] == message
    assert finished["source"] == "shipyard-controller"
    assert (finished["data"]["project"], finished["data"]["stage"]) == (project, stage)
    trigger = only(await stack.events(project, context, f"sh.keptn.event.{stage}.{sequence}.triggered"))
    assert finished["triggeredid"] == trigger["id"]
    # Nothing else happened in the context, and the trigger is no longer open.
    assert await types_of(stack, project, context) == [trigger["type"], finished["type"]]
    assert await open_triggered(stack, f"{stage}.{sequence}", project=project) == []


async def test_a_sequence_that_cannot_start_does_not_block_the_service(stack: Stack) -> None:
    """The failed start takes no place in the service's queue: a valid sequence right after it runs."""
    project = unique_name("nosequence")
    await stack.create_project(project, "onboarding-carts.shipyard.yaml")
    await stack.create_service(project, "carts")
    broken = await stack.trigger(project, "dev", "no-such-sequence", "carts")
    async with ScopedExecutor(stack, "deployment", project), ScopedExecutor(stack, "release", project):
        context = await stack.trigger(project, "dev", "delivery-direct", "carts")
        await stack.wait_for(project, broken, "sh.keptn.event.dev.no-such-sequence.finished")
        await stack.wait_for(project, context, "sh.keptn.event.dev.delivery-direct.finished")
        # staging.delivery-direct follows; let it finish too, so that nothing outlives the test.
        await stack.wait_for(project, context, "sh.keptn.event.production.delivery-direct.finished")
