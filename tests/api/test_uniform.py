"""Uniform registrations, subscriptions, the per-integration JetStream consumer and /log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import nats.js.errors
import pytest
from nats.js.api import AckPolicy, DeliverPolicy

from eventbus.integrations import consumer_name
from keptn.events import format_keptn_time
from tests.api.conftest import Api
from tests.fixtures.databases import unique_name

BASE = "/api/controlPlane/v1"


def integration(name: str, namespace: str = "keptn", **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "metadata": {
            "hostname": "node-1",
            "integrationversion": "1.4.5",
            "distributorversion": "1.4.5",
            "location": "control-plane",
            "kubernetesmetadata": {"namespace": namespace, "podname": f"{name}-abc", "deploymentname": name},
        },
        **kw,
    }


async def register(api: Api, body: dict[str, Any]) -> str:
    r = await api.client.post(f"{BASE}/uniform/registration", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


async def test_zero_downtime_probe_finds_lighthouse_service(api: Api) -> None:
    namespace = unique_name("ns")
    body = integration(
        "lighthouse-service", namespace, subscriptions=[{"event": "sh.keptn.event.evaluation.triggered"}]
    )
    r = await api.client.post(f"{BASE}/uniform/registration", json=body)
    assert r.status_code == 201
    iid = r.json()["id"]
    r = await api.client.get(f"{BASE}/uniform/registration", params={"name": "lighthouse-service"})
    assert r.status_code == 200
    found = r.json()
    assert isinstance(found, list) and found[0]["name"] == "lighthouse-service"
    mine = next(i for i in found if i["id"] == iid)
    assert set(mine) == {"id", "name", "metadata", "subscriptions"}
    assert set(mine["metadata"]) == {
        "hostname",
        "integrationversion",
        "distributorversion",
        "location",
        "kubernetesmetadata",
        "lastseen",
    }
    [sub] = mine["subscriptions"]
    assert sub["event"] == "sh.keptn.event.evaluation.triggered"
    assert sub["filter"] == {"projects": None, "stages": None, "services": None}

    # A second pod of the same deployment re-registers: same id, 200, subscriptions kept.
    r = await api.client.post(
        f"{BASE}/uniform/registration", json=integration("lighthouse-service", namespace)
    )
    assert (r.status_code, r.json()) == (200, {"id": iid})
    r = await api.client.get(f"{BASE}/uniform/registration", params={"id": iid})
    assert [s["id"] for s in r.json()[0]["subscriptions"]] == [sub["id"]]


async def test_register_validation(api: Api) -> None:
    cases = [
        (b"", "EOF"),
        (
            b'{"name": "x", "metadata": {"hostname": "h", "kubernetesmetadata": {"namespace": "n"}}, '
            b'"subscriptions": [{"event": ""}]}',
            "the event must be specified when setting up a subscription",
        ),
        (
            b'{"name": "x2", "metadata": {"hostname": "h", "kubernetesmetadata": {"namespace": "n"}}, '
            b'"subscriptions": [{"event": "e", "filter": {"services": ["s"]}}]}',
            "at least one stage must be specified when setting up a subscription filter for a service",
        ),
        (
            b'{"name": "x3", "metadata": {"hostname": "", "kubernetesmetadata": {"namespace": "n"}}}',
            "incomplete integration ID. At least 'name','namespace' and 'nodename' must be set",
        ),
        (
            b'{"name": 5}',
            "json: cannot unmarshal number into Go struct field Integration.name of type string",
        ),
    ]
    for body, message in cases:
        r = await api.client.post(
            f"{BASE}/uniform/registration", content=body, headers={"content-type": "application/json"}
        )
        assert (r.status_code, r.json()) == (400, {"code": 400, "message": message})
    webhook = integration(
        "webhook-service",
        unique_name("ns"),
        subscriptions=[{"event": "e", "filter": {"projects": ["a", "b"]}}],
    )
    r = await api.client.post(f"{BASE}/uniform/registration", json=webhook)
    assert r.json() == {"code": 400, "message": "webhook should refer to exactly one project"}


async def test_ping_unregister(api: Api) -> None:
    iid = await register(api, integration(unique_name("svc"), subscriptions=[{"event": "e"}]))
    r = await api.client.put(f"{BASE}/uniform/registration/{iid}/ping")
    assert r.status_code == 200
    assert r.json()["id"] == iid and [s["event"] for s in r.json()["subscriptions"]] == ["e"]
    r = await api.client.delete(f"{BASE}/uniform/registration/{iid}")
    assert (r.status_code, r.json()) == (200, {})
    r = await api.client.delete(f"{BASE}/uniform/registration/{iid}")
    assert r.status_code == 200  # Keptn: unknown ids too
    r = await api.client.put(f"{BASE}/uniform/registration/{iid}/ping")
    assert (r.status_code, r.json()) == (404, {"code": 404, "message": "uniform integration not found"})


async def test_subscription_crud(api: Api) -> None:
    iid = await register(api, integration(unique_name("svc")))
    subs = f"{BASE}/uniform/registration/{iid}/subscription"
    assert (await api.client.get(subs)).json() == []
    r = await api.client.post(
        subs, json={"event": "sh.keptn.event.test.triggered", "filter": {"projects": ["p"]}}
    )
    assert r.status_code == 201
    sid = r.json()["id"]
    r = await api.client.get(f"{subs}/{sid}")
    assert r.json() == {
        "id": sid,
        "event": "sh.keptn.event.test.triggered",
        "filter": {"projects": ["p"], "stages": None, "services": None},
    }
    r = await api.client.put(
        f"{subs}/{sid}", json={"event": "sh.keptn.event.deployment.triggered", "filter": {"stages": ["dev"]}}
    )
    assert (r.status_code, r.json()) == (201, {"id": sid})
    assert (await api.client.get(f"{subs}/{sid}")).json()["event"] == "sh.keptn.event.deployment.triggered"
    r = await api.client.post(subs, json={"filter": {}})
    assert r.json() == {"code": 400, "message": "the event must be specified when setting up a subscription"}
    r = await api.client.delete(f"{subs}/{sid}")
    assert (r.status_code, r.json()) == (200, {})
    r = await api.client.get(f"{subs}/{sid}")
    assert (r.status_code, r.json()) == (404, {"code": 404, "message": "mongo: no documents in result"})
    unknown = f"{BASE}/uniform/registration/unknown/subscription"
    assert (await api.client.get(unknown)).status_code == 404
    assert (await api.client.post(unknown, json={"event": "e"})).status_code == 404
    assert (await api.client.put(f"{unknown}/x", json={"event": "e"})).status_code == 404
    assert (await api.client.delete(f"{unknown}/x")).status_code == 404


async def test_registration_creates_a_durable_consumer_per_integration(api: Api) -> None:
    name = unique_name("executor")
    body = integration(
        name,
        subscriptions=[
            {"event": "sh.keptn.event.deployment.triggered", "filter": {"projects": ["a"]}},
            {"event": "sh.keptn.event.deployment.triggered", "filter": {"projects": ["b"]}},
            {"event": "sh.keptn.event.test.triggered"},
        ],
    )
    iid = await register(api, body)
    stream = api.settings.stream_name
    info = await api.js.consumer_info(stream, consumer_name(name))
    assert sorted(info.config.filter_subjects) == [
        "sh.keptn.event.deployment.triggered",
        "sh.keptn.event.test.triggered",
    ]
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    assert info.config.deliver_policy == DeliverPolicy.NEW
    assert info.config.ack_wait == pytest.approx(60)

    # A subscription change updates the filter of the same consumer.
    r = await api.client.post(
        f"{BASE}/uniform/registration/{iid}/subscription", json={"event": "sh.keptn.event.release.triggered"}
    )
    assert r.status_code == 201
    info = await api.js.consumer_info(stream, consumer_name(name))
    assert "sh.keptn.event.release.triggered" in info.config.filter_subjects

    # An executor that binds later still receives what was published after registration.
    await api.js.publish("sh.keptn.event.release.triggered", b'{"id":"x"}', stream=stream)
    sub = await api.js.pull_subscribe_bind(durable=consumer_name(name), stream=stream)
    try:
        msgs = await sub.fetch(1, timeout=5)
        assert msgs[0].subject == "sh.keptn.event.release.triggered"
        await msgs[0].ack()
    finally:
        await sub.unsubscribe()

    # No subscriptions: no consumer.
    lonely = unique_name("lonely")
    await register(api, integration(lonely))
    with pytest.raises(nats.js.errors.NotFoundError):
        await api.js.consumer_info(stream, consumer_name(lonely))


async def test_logs(api: Api) -> None:
    iid = unique_name("int")
    t1 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    t2 = t1 + timedelta(hours=1)
    entries = [
        {"integrationid": iid, "message": "first", "time": format_keptn_time(t1), "task": "deployment"},
        {
            "integrationid": iid,
            "message": "second",
            "time": format_keptn_time(t2),
            "shkeptncontext": "c",
        },
    ]
    r = await api.client.post(f"{BASE}/log", json={"logs": entries})
    assert (r.status_code, r.json()) == (200, {})
    r = await api.client.get(f"{BASE}/log", params={"integrationId": iid})
    body = r.json()
    assert body["totalCount"] == 2 and "nextPageKey" not in body and "pageSize" not in body
    assert [e["message"] for e in body["logs"]] == ["second", "first"]
    assert body["logs"][1] == {
        "integrationid": iid,
        "message": "first",
        "time": t1.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "shkeptncontext": "",
        "task": "deployment",
        "triggeredid": "",
    }
    r = await api.client.get(f"{BASE}/log", params={"integrationId": iid, "pageSize": "1"})
    assert r.json()["nextPageKey"] == 1 and len(r.json()["logs"]) == 1
    r = await api.client.get(
        f"{BASE}/log",
        params={"integrationId": iid, "fromTime": format_keptn_time(t1 + timedelta(minutes=30))},
    )
    assert [e["message"] for e in r.json()["logs"]] == ["second"]
    r = await api.client.get(f"{BASE}/log", params={"integrationId": unique_name("none")})
    assert r.json() == {"logs": []}
    assert (await api.client.get(f"{BASE}/log", params={"fromTime": "yesterday"})).status_code == 400
    assert (await api.client.get(f"{BASE}/log", params={"pageSize": "x"})).status_code == 400
    assert (
        await api.client.post(f"{BASE}/log", content=b"", headers={"content-type": "application/json"})
    ).json() == {
        "code": 400,
        "message": "EOF",
    }
    r = await api.client.delete(f"{BASE}/log")
    assert r.status_code == 403


async def test_uniform_requires_the_token(api: Api) -> None:
    r = await api.client.get(f"{BASE}/uniform/registration", headers={"x-token": "wrong"})
    assert r.status_code in (401, 429)
