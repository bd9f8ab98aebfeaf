from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.db import Database
from store.uniform import (
    IntegrationRepository,
    LogRepository,
    UniformValidationError,
    format_go_time,
)
from tests.fixtures.databases import unique_name


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def integrations(database: Database, clock: FakeClock) -> IntegrationRepository:
    return IntegrationRepository(database, ttl=timedelta(hours=48), clock=clock)


@pytest.fixture
def logs(database: Database, clock: FakeClock) -> LogRepository:
    return LogRepository(database, ttl=timedelta(hours=120), clock=clock)


def integration(name: str, namespace: str = "keptn", host: str = "node-1", **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "metadata": {
            "hostname": host,
            "integrationversion": kw.pop("version", "1.0.0"),
            "distributorversion": "1.0.0",
            "location": "control-plane",
            "kubernetesmetadata": {"namespace": namespace, "podname": "pod-1", "deploymentname": name},
        },
        **kw,
    }


def sub(event: str, **flt: Any) -> dict[str, Any]:
    return {"event": event, "filter": flt}


async def test_register_new_and_again(integrations: IntegrationRepository, clock: FakeClock) -> None:
    name = unique_name("svc")
    first = integration(name, subscriptions=[sub("sh.keptn.event.test.triggered", projects=["p"])])
    iid, created = await integrations.register(first)
    assert created
    assert iid == hashlib.sha1(f"{name}-keptn-node-1".encode()).hexdigest()
    got = await integrations.get(iid)
    assert got is not None
    assert got["name"] == name
    assert got["metadata"]["kubernetesmetadata"] == {
        "namespace": "keptn",
        "podname": "pod-1",
        "deploymentname": name,
    }
    assert got["metadata"]["lastseen"] == format_go_time(clock.now)
    [s1] = got["subscriptions"]
    assert s1["event"] == "sh.keptn.event.test.triggered"
    assert s1["filter"] == {"projects": ["p"], "stages": None, "services": None}
    assert s1["id"]

    # The next pod (new hostname, new version) registers with one known and one new subscription.
    clock.advance(timedelta(minutes=5))
    again = integration(
        name,
        host="node-2",
        version="1.1.0",
        subscriptions=[
            sub("sh.keptn.event.test.triggered", projects=["p"]),
            sub("sh.keptn.event.other.triggered"),
        ],
    )
    assert await integrations.register(again) == (iid, False)
    got = await integrations.get(iid)
    assert got is not None
    assert got["metadata"]["integrationversion"] == "1.1.0"
    assert got["metadata"]["lastseen"] == format_go_time(clock.now)
    assert [s["event"] for s in got["subscriptions"]] == [
        "sh.keptn.event.test.triggered",
        "sh.keptn.event.other.triggered",
    ]
    assert got["subscriptions"][0]["id"] == s1["id"]  # kept, not re-created

    # Same name in another namespace: another integration.
    other, created = await integrations.register(integration(name, namespace="other"))
    assert created and other != iid


async def test_register_validation(integrations: IntegrationRepository) -> None:
    with pytest.raises(UniformValidationError, match="incomplete integration ID"):
        await integrations.register(integration(unique_name("svc"), host=""))
    with pytest.raises(UniformValidationError, match="the event must be specified"):
        await integrations.register(integration(unique_name("svc"), subscriptions=[sub("")]))
    with pytest.raises(UniformValidationError, match="at least one stage must be specified"):
        await integrations.register(integration(unique_name("svc"), subscriptions=[sub("e", services=["a"])]))
    with pytest.raises(UniformValidationError, match="webhook should refer to exactly one project"):
        await integrations.register(
            integration(
                "webhook-service", namespace=unique_name("ns"), subscriptions=[sub("e", projects=["a", "b"])]
            )
        )
    iid, _ = await integrations.register(
        integration("webhook-service", namespace=unique_name("ns"), subscriptions=[sub("e", projects=["a"])])
    )
    assert iid


async def test_list_filters(integrations: IntegrationRepository) -> None:
    name = unique_name("svc")
    project = unique_name("proj")
    iid, _ = await integrations.register(
        integration(name, subscriptions=[sub("e", projects=[project], stages=["dev"], services=["carts"])])
    )
    assert [i["id"] for i in await integrations.list(name=name)] == [iid]
    assert [i["id"] for i in await integrations.list(id=iid)] == [iid]
    assert [i["id"] for i in await integrations.list(project=project)] == [iid]
    assert [i["id"] for i in await integrations.list(project=project, stage="dev", service="carts")] == [iid]
    assert await integrations.list(project=project, stage="prod") == []
    assert await integrations.list(name=unique_name("none")) == []


async def test_ttl_expiry_and_ping(integrations: IntegrationRepository, clock: FakeClock) -> None:
    name = unique_name("svc")
    iid, _ = await integrations.register(integration(name, subscriptions=[sub("e")]))
    clock.advance(timedelta(hours=47))
    pinged = await integrations.ping(iid)
    assert pinged is not None and pinged["metadata"]["lastseen"] == format_go_time(clock.now)
    assert [s["event"] for s in pinged["subscriptions"]] == ["e"]
    clock.advance(timedelta(hours=47))
    assert await integrations.get(iid) is not None  # the ping kept it alive
    clock.advance(timedelta(hours=2))
    assert await integrations.get(iid) is None
    assert await integrations.ping(iid) is None
    assert await integrations.list(name=name) == []
    assert await integrations.get_subscriptions(iid) is None
    # Registering again after expiry starts afresh (the expired row and its subscriptions are gone).
    again, created = await integrations.register(integration(name, subscriptions=[sub("f")]))
    assert (again, created) == (iid, True)
    got = await integrations.get(iid)
    assert got is not None and [s["event"] for s in got["subscriptions"]] == ["f"]


async def test_subscription_crud(integrations: IntegrationRepository) -> None:
    iid, _ = await integrations.register(integration(unique_name("svc")))
    assert await integrations.get_subscriptions(iid) == []
    sid = await integrations.create_subscription(iid, sub("a", projects=["p"]))
    assert sid
    assert await integrations.get_subscription(iid, sid) == {
        "id": sid,
        "event": "a",
        "filter": {"projects": ["p"], "stages": None, "services": None},
    }
    assert await integrations.update_subscription(iid, sid, sub("b", stages=["dev"], services=["s"]))
    got = await integrations.get_subscription(iid, sid)
    assert got is not None and got["event"] == "b" and got["filter"]["services"] == ["s"]
    assert await integrations.update_subscription(iid, "given-id", sub("c"))  # PUT creates
    assert [s["id"] for s in await integrations.get_subscriptions(iid) or []] == [sid, "given-id"]
    assert await integrations.delete_subscription(iid, sid)
    assert await integrations.delete_subscription(iid, "missing")
    assert await integrations.get_subscription(iid, sid) is None
    with pytest.raises(UniformValidationError):
        await integrations.create_subscription(iid, sub(""))
    with pytest.raises(UniformValidationError):
        await integrations.update_subscription(iid, "x", sub("e", services=["s"]))
    assert await integrations.create_subscription("unknown", sub("a")) is None
    assert not await integrations.update_subscription("unknown", "x", sub("a"))
    assert not await integrations.delete_subscription("unknown", "x")
    assert await integrations.get_subscriptions("unknown") is None

    assert await integrations.delete(iid)
    assert not await integrations.delete(iid)
    assert await integrations.get(iid) is None


async def test_webhook_update_requires_one_project(integrations: IntegrationRepository) -> None:
    iid, _ = await integrations.register(integration("webhook-service", namespace=unique_name("ns")))
    # Keptn checks the project rule on PUT, not on POST.
    assert await integrations.create_subscription(iid, sub("e"))
    with pytest.raises(UniformValidationError, match="exactly one project"):
        await integrations.update_subscription(iid, "x", sub("e"))


async def test_logs(logs: LogRepository, clock: FakeClock) -> None:
    iid = unique_name("int")
    t0 = clock.now.replace(microsecond=0)
    await logs.add(
        [
            {"integrationid": iid, "message": "m1", "time": (t0 - timedelta(minutes=2)).isoformat()},
            {
                "integrationid": iid,
                "message": "m2",
                "time": (t0 - timedelta(minutes=1)).isoformat(),
                "task": "t",
            },
            {"integrationid": iid, "message": "now", "shkeptncontext": "c", "triggeredid": "tid"},
            {"integrationid": unique_name("other"), "message": "x"},
        ]
    )
    entries, total = await logs.list(integration_id=iid)
    assert total == 3 and [e["message"] for e in entries] == ["now", "m2", "m1"]
    assert entries[0] == {
        "integrationid": iid,
        "message": "now",
        "time": format_go_time(clock.now),
        "shkeptncontext": "c",
        "task": "",
        "triggeredid": "tid",
    }
    entries, total = await logs.list(integration_id=iid, offset=1, limit=1)
    assert total == 3 and [e["message"] for e in entries] == ["m2"]
    entries, _ = await logs.list(
        integration_id=iid, from_time=t0 - timedelta(minutes=2), before_time=t0 - timedelta(minutes=1)
    )
    assert [e["message"] for e in entries] == ["m2", "m1"]  # both bounds inclusive
    clock.advance(timedelta(hours=121))
    assert await logs.list(integration_id=iid) == ([], 0)
    await logs.add([{"integrationid": iid, "message": "new"}])  # purges the expired ones on the way
    assert (await logs.list(integration_id=iid))[1] == 1
    assert await logs.delete(integration_id=iid) == 1


def test_format_go_time() -> None:
    assert format_go_time(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    assert format_go_time(datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == "2024-01-02T03:04:05.12Z"
