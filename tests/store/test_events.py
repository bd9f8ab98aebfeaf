from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.db import Database
from store.events import EventRepository, parse_event_time
from store.records import EventQuery
from tests.fixtures.databases import unique_name

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def keptn_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def make_event(
    project: str,
    type_: str = "sh.keptn.event.dev.delivery.triggered",
    *,
    at: datetime = BASE,
    context: str | None = None,
    stage: str = "dev",
    service: str = "carts",
    triggered_id: str | None = None,
    source: str = "shipyard-controller",
    result: str | None = None,
    status: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {"project": project, "stage": stage, "service": service}
    if result is not None:
        data["result"] = result
    if status is not None:
        data["status"] = status
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": keptn_time(at),
        "contenttype": "application/json",
        "shkeptncontext": context or str(uuid.uuid4()),
        "shkeptnspecversion": "0.2.4",
        "data": data,
        **extra,
    }
    if triggered_id:
        event["triggeredid"] = triggered_id
    return event


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


async def test_add_get_roundtrip_and_idempotency(events: EventRepository) -> None:
    project = unique_name("ev")
    e = make_event(project, gitcommitid="abc", custom={"nested": [1, 2]})
    assert await events.add(e) is True
    assert await events.add(e) is False
    assert await events.add({**e, "data": {"project": "changed"}}) is False  # first write wins
    assert await events.get(e["id"]) == e
    assert await events.get("missing") is None
    page, total = await events.query(EventQuery(project=project))
    assert (page, total) == ([e], 1)


async def test_concurrent_inserts_of_one_event(events: EventRepository) -> None:
    e = make_event(unique_name("ev"))
    results = await asyncio.gather(*(events.add(e) for _ in range(10)))
    assert results.count(True) == 1 and results.count(False) == 9
    page, total = await events.query(EventQuery(keptn_context=e["shkeptncontext"]))
    assert total == 1 and ids(page) == [e["id"]]


async def test_concurrent_inserts_of_one_context_have_one_root(events: EventRepository) -> None:
    project = unique_name("ev")
    ctx = str(uuid.uuid4())
    batch = [make_event(project, context=ctx, at=BASE + timedelta(seconds=i)) for i in range(10)]
    assert all(await asyncio.gather(*(events.add(e) for e in batch)))
    roots, total = await events.query(EventQuery(project=project, root=True))
    assert total == 1 and roots[0]["id"] in ids(batch)


async def test_every_filter(events: EventRepository) -> None:
    project, other = unique_name("ev"), unique_name("ev")
    ctx = str(uuid.uuid4())
    a = make_event(project, "sh.keptn.event.dev.delivery.triggered", at=BASE, context=ctx)
    b = make_event(
        project,
        "sh.keptn.event.deployment.started",
        at=BASE + timedelta(minutes=1),
        context=ctx,
        source="helm-service",
    )
    c = make_event(
        project,
        "sh.keptn.event.deployment.finished",
        at=BASE + timedelta(minutes=2),
        stage="prod",
        service="orders",
        source="helm-service",
    )
    d = make_event(other, "sh.keptn.event.deployment.finished", at=BASE + timedelta(minutes=3))
    for e in (a, b, c, d):
        await events.add(e)

    async def q(**kw: Any) -> list[str]:
        page, total = await events.query(EventQuery(**kw))
        assert total == len(page)
        return ids(page)

    assert await q(project=project) == ids([c, b, a])
    assert await q(keptn_context=ctx) == ids([b, a])
    assert await q(project=project, type="sh.keptn.event.deployment.finished") == ids([c])
    assert await q(type="sh.keptn.event.deployment.finished", project=other) == ids([d])
    assert await q(project=project, stage="prod") == ids([c])
    assert await q(project=project, service="carts") == ids([b, a])
    assert await q(event_id=b["id"]) == ids([b])
    assert await q(project=project, source="helm-service") == ids([c, b])
    assert await q(project=project, from_time=BASE + timedelta(minutes=1)) == ids([c, b])  # inclusive
    assert await q(project=project, before_time=BASE + timedelta(minutes=1)) == ids([a])  # exclusive
    assert await q(project=project, from_time=BASE, before_time=BASE + timedelta(minutes=2)) == ids([b, a])
    assert await q(project=project, stage="") == ids([c, b, a])  # empty filter = absent
    assert await q(project=unique_name("unknown")) == []


async def test_ordering_and_paging(events: EventRepository) -> None:
    project = unique_name("ev")
    same_time = [make_event(project, at=BASE) for _ in range(3)]
    later = make_event(project, at=BASE + timedelta(hours=1))
    earlier = make_event(project, at=BASE - timedelta(hours=1))
    for e in [*same_time, later, earlier]:
        await events.add(e)
    expected = ids([later, *reversed(same_time), earlier])  # time DESC, then insertion order DESC
    page, total = await events.query(EventQuery(project=project, limit=100))
    assert ids(page) == expected and total == 5
    page1, total1 = await events.query(EventQuery(project=project, offset=0, limit=2))
    page2, _ = await events.query(EventQuery(project=project, offset=2, limit=2))
    page3, _ = await events.query(EventQuery(project=project, offset=4, limit=2))
    assert total1 == 5 and ids(page1 + page2 + page3) == expected
    assert await events.query(EventQuery(project=project, offset=10)) == ([], 5)


async def test_root_events(events: EventRepository) -> None:
    project = unique_name("ev")
    ctx1, ctx2 = str(uuid.uuid4()), str(uuid.uuid4())
    first1 = make_event(project, context=ctx1, at=BASE)
    next1 = make_event(
        project, "sh.keptn.event.deployment.triggered", context=ctx1, at=BASE + timedelta(seconds=1)
    )
    first2 = make_event(project, context=ctx2, at=BASE + timedelta(minutes=5))
    next2 = make_event(project, "sh.keptn.event.test.triggered", context=ctx2, at=BASE + timedelta(minutes=6))
    for e in (first1, next1, first2, next2):
        await events.add(e)
    await events.add(first1)  # re-delivery changes nothing
    page, total = await events.query(EventQuery(project=project, root=True))
    assert ids(page) == ids([first2, first1]) and total == 2
    page, total = await events.query(EventQuery(project=project, root=True, keptn_context=ctx1))
    assert ids(page) == ids([first1]) and total == 1
    page, total = await events.query(EventQuery(project=project, root=True, limit=1, offset=1))
    assert ids(page) == ids([first1]) and total == 2


async def test_root_is_first_stored_not_earliest_time(events: EventRepository) -> None:
    project = unique_name("ev")
    ctx = str(uuid.uuid4())
    stored_first = make_event(project, context=ctx, at=BASE + timedelta(minutes=1))
    await events.add(stored_first)
    await events.add(make_event(project, context=ctx, at=BASE))
    page, _ = await events.query(EventQuery(project=project, root=True))
    assert ids(page) == [stored_first["id"]]


async def test_query_by_type_filters(events: EventRepository) -> None:
    project = unique_name("ev")
    t = "sh.keptn.event.evaluation.finished"
    ctx = str(uuid.uuid4())
    passed = make_event(
        project, t, at=BASE, result="pass", status="succeeded", context=ctx, triggered_id="t1"
    )
    warned = make_event(project, t, at=BASE + timedelta(minutes=1), result="warning", status="succeeded")
    failed = make_event(
        project, t, at=BASE + timedelta(minutes=2), result="fail", status="errored", stage="prod"
    )
    other_type = make_event(project, "sh.keptn.event.evaluation.triggered", at=BASE + timedelta(minutes=3))
    for e in (passed, warned, failed, other_type):
        await events.add(e)

    async def by(filters: dict[str, list[str]], **kw: Any) -> list[str]:
        kw.setdefault("exclude_invalidated", False)
        kw.setdefault("from_time", None)
        kw.setdefault("limit", 0)
        return ids(await events.query_by_type(t, filters, **kw))

    assert await by({"data.project": [project]}) == ids([failed, warned, passed])
    assert await by({"data.project": [project], "data.result": ["pass", "warning"]}) == ids([warned, passed])
    assert await by({"data.project": [project], "data.stage": ["prod"]}) == ids([failed])
    assert await by(
        {"data.project": [project], "data.service": ["carts"], "data.status": ["errored"]}
    ) == ids([failed])
    assert await by({"shkeptncontext": [ctx]}) == ids([passed])
    assert await by({"data.project": [project], "triggeredid": ["t1"]}) == ids([passed])
    assert await by({"data.project": [project], "source": ["shipyard-controller"]}) == ids(
        [failed, warned, passed]
    )
    assert await by({"data.project": [project], "id": [warned["id"]]}) == ids([warned])
    assert await by({"data.project": [project]}, limit=2) == ids([failed, warned])
    assert await by({"data.project": [project]}, from_time=BASE + timedelta(minutes=1)) == ids(
        [failed, warned]
    )
    with pytest.raises(ValueError):
        await by({"data.labels.x": ["y"]})


async def test_invalidation(events: EventRepository) -> None:
    project = unique_name("ev")
    t = "sh.keptn.event.evaluation.finished"
    triggered_ok, triggered_bad = str(uuid.uuid4()), str(uuid.uuid4())
    ok = make_event(project, t, at=BASE, result="pass", triggered_id=triggered_ok)
    bad = make_event(project, t, at=BASE + timedelta(minutes=1), result="pass", triggered_id=triggered_bad)
    legacy = make_event(
        project, t, at=BASE + timedelta(minutes=2), result="pass"
    )  # invalidated by its own id
    for e in (ok, bad, legacy):
        await events.add(e)
    await events.add(make_event(project, "sh.keptn.event.evaluation.invalidated", triggered_id=triggered_bad))
    await events.add(make_event(project, "sh.keptn.event.evaluation.invalidated", triggered_id=legacy["id"]))
    inv = make_event(project, "sh.keptn.event.evaluation.invalidated", triggered_id=triggered_bad)
    await events.add(inv)  # a second invalidation of the same triggered id is fine

    filters = {"data.project": [project]}
    kept = await events.query_by_type(t, filters, exclude_invalidated=True, from_time=None, limit=0)
    assert ids(kept) == [ok["id"]]
    everything = await events.query_by_type(t, filters, exclude_invalidated=False, from_time=None, limit=0)
    assert ids(everything) == ids([legacy, bad, ok])
    # The datastore query is unaffected by invalidation.
    assert (await events.query(EventQuery(project=project, type=t)))[1] == 3


async def test_events_without_project_or_data(events: EventRepository) -> None:
    bare = {"id": str(uuid.uuid4()), "type": "sh.keptn.log.error", "specversion": "1.0", "source": "x"}
    assert await events.add(bare) is True
    assert await events.get(bare["id"]) == bare
    page, total = await events.query(EventQuery(event_id=bare["id"]))
    assert total == 1 and page == [bare]
    with pytest.raises(ValueError):
        await events.add({"type": "x"})


async def test_time_parsing() -> None:
    expected = datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert parse_event_time("2024-03-01T12:00:00.123Z") == expected
    assert parse_event_time("2024-03-01T14:00:00.123+02:00") == expected
    assert parse_event_time("2024-03-01T12:00:00.123456789Z") == expected.replace(microsecond=123456)
    assert parse_event_time("2024-03-01T12:00:00") == expected.replace(microsecond=0)
    fallback = datetime(2000, 1, 1, tzinfo=UTC)
    assert parse_event_time("garbage", default=fallback) == fallback
    assert parse_event_time(None, default=fallback) == fallback
    now = parse_event_time(None)
    assert now.tzinfo is not None and abs(now - datetime.now(UTC)) < timedelta(minutes=1)


async def test_time_from_event_and_missing_time(events: EventRepository) -> None:
    project = unique_name("ev")
    e = make_event(project, at=BASE)
    no_time = make_event(project)
    del no_time["time"]
    await events.add(e)
    await events.add(no_time)
    page, _ = await events.query(EventQuery(project=project))
    assert ids(page) == ids([no_time, e])  # stored "now" sorts after 2024
    assert ids(
        (await events.query(EventQuery(project=project, before_time=BASE + timedelta(seconds=1))))[0]
    ) == [e["id"]]


async def test_statistics(events: EventRepository) -> None:
    project = unique_name("ev")
    at = datetime(2031, 1, 1, tzinfo=UTC)  # a time no other test uses
    for svc, type_, n in (
        ("carts", "a.triggered", 2),
        ("carts", "a.finished", 1),
        ("orders", "a.triggered", 3),
    ):
        for _ in range(n):
            await events.add(make_event(project, type_, service=svc, at=at))
    await events.add(make_event(project, "a.triggered", at=at + timedelta(days=2)))  # outside the window
    await events.add(
        {"id": str(uuid.uuid4()), "type": "x", "time": keptn_time(at), "data": {"project": project}}
    )
    stats = await events.count_by_project_service_type(at - timedelta(hours=1), at + timedelta(days=1))
    assert stats == {project: {"carts": {"a.triggered": 2, "a.finished": 1}, "orders": {"a.triggered": 3}}}
    assert await events.count_by_project_service_type(at, at) == stats  # both bounds inclusive


async def test_same_events_from_two_replicas(database_url: str) -> None:
    """Each event delivered to two replicas at once (e.g. a NATS redelivery racing the original)."""
    replicas = [Database(database_url), Database(database_url)]
    try:
        repos = [EventRepository(db) for db in replicas]
        project = unique_name("ev")
        ctx = str(uuid.uuid4())
        batch = [make_event(project, context=ctx, at=BASE + timedelta(seconds=i)) for i in range(10)]
        results = await asyncio.gather(*(repo.add(e) for e in batch for repo in repos))
        assert results.count(True) == 10
        page, total = await repos[0].query(EventQuery(project=project, limit=100))
        assert total == 10 and sorted(ids(page)) == sorted(ids(batch))
        assert (await repos[1].query(EventQuery(project=project, root=True)))[1] == 1
    finally:
        for db in replicas:
            await db.dispose()
