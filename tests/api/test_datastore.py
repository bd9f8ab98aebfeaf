"""GET /api/mongodb-datastore/event and /event/type/{eventType}."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import Api
from tests.fixtures.databases import unique_name

DS = "/api/mongodb-datastore"


async def post(api: Api, event_type: str, project: str, context: str, **data: Any) -> str:
    body: dict[str, Any] = {
        "type": event_type,
        "source": "test",
        "shkeptncontext": context,
        "data": {"project": project, "stage": "dev", "service": "carts", **data},
    }
    if not event_type.endswith(".triggered"):
        body["triggeredid"] = str(uuid.uuid4())
    r = await api.client.post("/api/v1/event", json=body)
    assert r.status_code == 200, r.text
    events = (
        await api.client.get(
            f"{DS}/event", params={"project": project, "keptnContext": context, "type": event_type}
        )
    ).json()["events"]
    return events[0]["id"]


async def test_unknown_project_gives_keptns_exact_empty_body(api: Api) -> None:
    r = await api.client.get(f"{DS}/event", params={"project": "some-random", "pageSize": 20})
    assert (r.status_code, r.json()) == (200, {"events": [], "pageSize": 20})


async def test_filters_order_paging_and_root(api: Api) -> None:
    project = unique_name("ds")
    ctx1, ctx2 = str(uuid.uuid4()), str(uuid.uuid4())
    first = await post(api, "sh.keptn.event.dev.delivery.triggered", project, ctx1)
    await post(api, "sh.keptn.event.deployment.started", project, ctx1)
    await post(api, "sh.keptn.event.deployment.finished", project, ctx1, result="pass", status="succeeded")
    await post(api, "sh.keptn.event.dev.evaluation.triggered", project, ctx2)

    all_events = (await api.client.get(f"{DS}/event", params={"project": project})).json()
    assert all_events["totalCount"] == 4
    times = [e["time"] for e in all_events["events"]]
    assert times == sorted(times, reverse=True)  # newest first
    assert all_events["events"][-1]["id"] == first

    by_ctx = (await api.client.get(f"{DS}/event", params={"keptnContext": ctx1})).json()
    assert by_ctx["totalCount"] == 3
    by_type = (
        await api.client.get(
            f"{DS}/event", params={"project": project, "type": "sh.keptn.event.deployment.started"}
        )
    ).json()
    assert [e["type"] for e in by_type["events"]] == ["sh.keptn.event.deployment.started"]
    by_id = (await api.client.get(f"{DS}/event", params={"project": project, "eventID": first})).json()
    assert [e["id"] for e in by_id["events"]] == [first]

    page1 = (await api.client.get(f"{DS}/event", params={"project": project, "pageSize": 3})).json()
    assert len(page1["events"]) == 3 and page1["nextPageKey"] == "3"
    page2 = (
        await api.client.get(f"{DS}/event", params={"project": project, "pageSize": 3, "nextPageKey": "3"})
    ).json()
    assert len(page2["events"]) == 1 and "nextPageKey" not in page2

    roots = (await api.client.get(f"{DS}/event", params={"project": project, "root": "true"})).json()
    assert sorted(e["shkeptncontext"] for e in roots["events"]) == sorted([ctx1, ctx2])
    assert first in {e["id"] for e in roots["events"]}


async def test_time_window(api: Api) -> None:
    project = unique_name("win")
    await post(api, "sh.keptn.event.dev.delivery.triggered", project, str(uuid.uuid4()))
    future = (
        await api.client.get(
            f"{DS}/event", params={"project": project, "fromTime": "2999-01-01T00:00:00.000Z"}
        )
    ).json()
    assert future["events"] == []
    past = (
        await api.client.get(
            f"{DS}/event", params={"project": project, "beforeTime": "2999-01-01T00:00:00.000Z"}
        )
    ).json()
    assert len(past["events"]) == 1
    bad = await api.client.get(f"{DS}/event", params={"project": project, "fromTime": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == 400


async def test_paging_validation_like_go_swagger(api: Api) -> None:
    cases = {
        "abc": (601, 'pageSize in query must be of type int64: "abc"'),
        "0": (609, "pageSize in query should be greater than or equal to 1"),
        "101": (608, "pageSize in query should be less than or equal to 100"),
    }
    for size, (code, message) in cases.items():
        r = await api.client.get(f"{DS}/event", params={"project": "p", "pageSize": size})
        assert (r.status_code, r.json()) == (422, {"code": code, "message": message})


async def test_events_by_type_with_filter(api: Api) -> None:
    project = unique_name("bytype")
    ctx = str(uuid.uuid4())
    await post(api, "sh.keptn.event.evaluation.finished", project, ctx, result="pass", status="succeeded")
    await post(api, "sh.keptn.event.evaluation.finished", project, ctx, result="fail", status="succeeded")
    path = f"{DS}/event/type/sh.keptn.event.evaluation.finished"
    both = (
        await api.client.get(path, params={"filter": f"data.project:{project} AND data.result:pass,fail"})
    ).json()
    assert len(both["events"]) == 2
    passed = (
        await api.client.get(path, params={"filter": f"data.project:{project} AND data.result:pass"})
    ).json()
    assert [e["data"]["result"] for e in passed["events"]] == ["pass"]
    limited = (await api.client.get(path, params={"filter": f"data.project:{project}", "limit": 1})).json()
    assert len(limited["events"]) == 1
    r = await api.client.get(path, params={"filter": "data.stage:dev"})
    assert r.json() == {
        "code": 400,
        "message": "invalid event filter: either 'shkeptncontext' or 'data.project' must be set",
    }
    assert (await api.client.get(path)).json() == {"code": 602, "message": "filter in query is required"}
