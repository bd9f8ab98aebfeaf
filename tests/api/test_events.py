"""POST /api/v1/event: Keptn's validation, durable publish to JetStream, storage, idempotent retries."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.fixtures.databases import unique_name


def delivery(project: str, stage: str = "dev", **extra: Any) -> dict[str, Any]:
    return {
        "type": "sh.keptn.event.dev.delivery.triggered",
        "source": "https://github.com/keptn/keptn/cli",
        "specversion": "1.0",
        "data": {"project": project, "stage": stage, "service": "carts"},
        **extra,
    }


async def datastore(api: Api, **params: str) -> list[dict[str, Any]]:
    r = await api.client.get("/api/mongodb-datastore/event", params=params)
    assert r.status_code == 200
    return r.json()["events"]


async def test_event_is_published_stored_and_findable(api: Api) -> None:
    project = unique_name("ev")
    before = await api.stream_messages()
    r = await api.client.post("/api/v1/event", json=delivery(project))
    assert r.status_code == 200
    context = r.json()["keptnContext"]
    uuid.UUID(context)
    assert await api.stream_messages() == before + 1
    events = await datastore(api, project=project)
    assert len(events) == 1
    assert events[0]["shkeptncontext"] == context
    assert events[0]["type"] == "sh.keptn.event.dev.delivery.triggered"
    assert events[0]["data"]["service"] == "carts"
    # The event in the stream is the one that was stored.
    msg = await api.js.get_last_msg(api.settings.stream_name, "sh.keptn.event.dev.delivery.triggered")
    assert json.loads(msg.data)["id"] == events[0]["id"]


async def test_retry_with_the_same_id_is_not_duplicated(api: Api) -> None:
    project = unique_name("retry")
    event = delivery(project, id=str(uuid.uuid4()))
    before = await api.stream_messages()
    first = await api.client.post("/api/v1/event", json=event)
    second = await api.client.post("/api/v1/event", json=event)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await api.stream_messages() == before + 1
    assert len(await datastore(api, project=project)) == 1


async def test_task_events_from_the_execution_plane(api: Api) -> None:
    project = unique_name("task")
    started = {
        "type": "sh.keptn.event.deployment.started",
        "source": "helm-service",
        "shkeptncontext": str(uuid.uuid4()),
        "triggeredid": str(uuid.uuid4()),
        "data": {"project": project, "stage": "dev", "service": "carts"},
    }
    assert (await api.client.post("/api/v1/event", json=started)).status_code == 200
    finished = started | {
        "type": "sh.keptn.event.deployment.finished",
        "data": started["data"] | {"result": "pass", "status": "succeeded"},
    }
    r = await api.client.post("/api/v1/event", json=finished)
    assert r.json()["keptnContext"] == started["shkeptncontext"]


BAD_EVENTS = {
    "unknown type": ({"type": "sh.keptn.something", "source": "x", "data": {}}, 400),
    "task triggered": (
        {
            "type": "sh.keptn.event.deployment.triggered",
            "source": "x",
            "data": {"project": "p", "stage": "dev", "service": "s"},
        },
        400,
    ),
    "stage mismatch": (
        {
            "type": "sh.keptn.event.dev.delivery.triggered",
            "source": "x",
            "data": {"project": "p", "stage": "prod", "service": "s"},
        },
        400,
    ),
    "finished without result": (
        {
            "type": "sh.keptn.event.deployment.finished",
            "source": "x",
            "triggeredid": "t",
            "data": {"project": "p", "stage": "dev", "service": "s", "status": "succeeded"},
        },
        400,
    ),
    "started without triggeredid": (
        {
            "type": "sh.keptn.event.deployment.started",
            "source": "x",
            "data": {"project": "p", "stage": "dev", "service": "s"},
        },
        400,
    ),
    "sequence without service": (
        {
            "type": "sh.keptn.event.dev.delivery.triggered",
            "source": "x",
            "data": {"project": "p", "stage": "dev"},
        },
        400,
    ),
    "no type": ({"source": "x", "data": {}}, 422),
    "no data": ({"type": "sh.keptn.event.dev.delivery.triggered", "source": "x"}, 422),
    "no source": ({"type": "sh.keptn.event.dev.delivery.triggered", "data": {}}, 422),
}


@pytest.mark.parametrize("case", list(BAD_EVENTS))
async def test_bad_events_are_rejected_and_nothing_is_stored(api: Api, case: str) -> None:
    body, status = BAD_EVENTS[case]
    before_stream = await api.stream_messages()
    before_store = len(await datastore(api, project="p"))
    r = await api.client.post("/api/v1/event", json=body)
    assert r.status_code == status
    assert set(r.json()) == {"code", "message"}
    assert r.json()["code"] == (602 if status == 422 else status)
    assert await api.stream_messages() == before_stream
    assert len(await datastore(api, project="p")) == before_store


async def test_stage_mismatch_message(api: Api) -> None:
    r = await api.client.post("/api/v1/event", json=BAD_EVENTS["stage mismatch"][0])
    assert r.json()["message"] == "stage name in event data and in event type does not match"
    r = await api.client.post("/api/v1/event", json=BAD_EVENTS["unknown type"][0])
    assert r.json()["message"] == "unknown event type"
    r = await api.client.post("/api/v1/event", json=BAD_EVENTS["no data"][0])
    assert r.json() == {"code": 602, "message": "data in body is required"}
    r = await api.client.post("/api/v1/event", json=BAD_EVENTS["finished without result"][0])
    assert r.json()["message"] == "result field is not set"


async def test_malformed_json_and_non_object(api: Api) -> None:
    before = await api.stream_messages()
    for raw in [b'{"type": ', b"[1, 2]", b"\xff\xfe"]:
        r = await api.client.post("/api/v1/event", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, raw
        assert r.json()["code"] == 400
        assert r.json()["message"].startswith('parsing body body from "" failed, because ')
    r = await api.client.post("/api/v1/event", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert await api.stream_messages() == before


async def test_oversize_event(api: Api) -> None:
    project = unique_name("big")
    body = delivery(project)
    body["data"]["blob"] = "x" * (65 * 1024)
    before = await api.stream_messages()
    r = await api.client.post("/api/v1/event", json=body)
    assert r.json() == {
        "code": 400,
        "message": 'parsing body body from "" failed, because http: request body too large',
    }
    assert await api.stream_messages() == before
    assert await datastore(api, project=project) == []
