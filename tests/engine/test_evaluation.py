"""`keptn trigger evaluation`: POST .../evaluation starts the stage's built-in evaluation sequence."""

from __future__ import annotations

from tests.engine.harness import Reply, Stack, replying
from tests.engine.support import ScopedExecutor
from tests.engine.test_delivery import SHIPYARD
from tests.fixtures.databases import unique_name

CP = "/api/controlPlane/v1"


async def test_triggered_evaluation_runs_the_builtin_sequence(stack: Stack) -> None:
    project = unique_name("eval")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    path = f"{CP}/project/{project}/stage/hardening/service/carts/evaluation"
    lighthouse = replying(Reply(data={"evaluation": {"result": "pass", "score": 100}}))
    async with ScopedExecutor(
        stack, "evaluation", project, lighthouse, name="lighthouse-service"
    ) as executor:
        r = await stack.api.post(path, json={"timeframe": "5m", "labels": {"run": "1"}})
        assert r.status_code == 200, r.text
        context = r.json()["keptnContext"]
        finished = await stack.wait_for(project, context, "sh.keptn.event.hardening.evaluation.finished")
    assert finished[0]["data"]["result"] == "pass"
    window = executor.received[0]["data"]["evaluation"]
    assert window["start"] < window["end"]
    assert executor.received[0]["data"]["labels"] == {"run": "1"}


async def test_evaluation_input_errors(stack: Stack) -> None:
    project = unique_name("evalbad")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    base = f"{CP}/project/{project}/stage/hardening/service"
    both = await stack.api.post(
        f"{base}/carts/evaluation", json={"end": "2026-01-01T00:10:00Z", "timeframe": "5m"}
    )
    assert both.status_code == 400 and both.json()["code"] == 400
    short = await stack.api.post(
        f"{base}/carts/evaluation", json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:30Z"}
    )
    assert short.status_code == 400
    unknown = await stack.api.post(f"{base}/nope/evaluation", json={})
    assert unknown.status_code == 400
