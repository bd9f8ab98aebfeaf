from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from store.db import Database
from store.sequences import (
    SequenceExecutionRecord,
    SequenceRepository,
    TriggeredEventRepository,
    context_state,
)
from tests.fixtures.databases import unique_name

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sequences(database: Database) -> SequenceRepository:
    return SequenceRepository(database)


@pytest.fixture
def triggered(database: Database) -> TriggeredEventRepository:
    return TriggeredEventRepository(database)


def record(project: str, context: str, stage: str = "dev", **kw: object) -> SequenceExecutionRecord:
    base = SequenceExecutionRecord(
        workflow_id=f"seq-{uuid.uuid4()}",
        project=project,
        stage=stage,
        service="carts",
        sequence="delivery",
        keptn_context=context,
        triggered_id=str(uuid.uuid4()),
        state="triggered",
        triggered_at=T0,
        version=1,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def triggered_event(project: str, context: str, type_: str, stage: str = "dev", **kw: object) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "source": "shipyard-controller",
        "specversion": "1.0",
        "time": "2024-05-01T12:00:00.000Z",
        "shkeptncontext": context,
        "data": {"project": project, "stage": stage, "service": "carts"},
        **kw,
    }


async def test_save_round_trips_every_field(sequences: SequenceRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    rec = record(
        project,
        context,
        status="succeeded",
        result="pass",
        current_task="deployment",
        current_task_triggered_id="t1",
        gitcommitid="abc",
        image="docker.io/carts:0.1",
        problem_title="cpu",
        labels={"a": "b"},
        input_properties={"configurationChange": {"values": {"image": "docker.io/carts:0.1"}}},
        previous_tasks=[
            {"name": "x", "triggeredID": "1", "result": "pass", "status": "succeeded", "properties": {"k": 1}}
        ],
        latest_event={"id": "e", "type": "t", "time": "2024"},
        latest_evaluation={"result": "pass", "score": 100.0},
        tasks=[{"name": "deployment"}],
    )
    assert await sequences.save(rec)
    got = await sequences.get(rec.workflow_id)
    assert got is not None
    assert got.updated_at is not None
    assert dataclasses.replace(got, updated_at=None) == rec
    assert await sequences.get("nope") is None


async def test_save_is_version_guarded(sequences: SequenceRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    v1 = record(project, context, version=1)
    v2 = dataclasses.replace(v1, version=2, state="started")
    assert await sequences.save(v2)
    assert not await sequences.save(v1)  # an older write arriving late
    assert not await sequences.save(v2)  # an activity retry
    got = await sequences.get(v1.workflow_id)
    assert got is not None and got.state == "started" and got.version == 2
    assert await sequences.save(dataclasses.replace(v1, version=3, state="finished", status="succeeded"))
    got = await sequences.get(v1.workflow_id)
    assert got is not None and got.state == "finished"


async def test_concurrent_saves_of_one_workflow_keep_the_highest_version(
    sequences: SequenceRepository,
) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    base = record(project, context)
    versions = [dataclasses.replace(base, version=v, current_task=f"t{v}") for v in range(1, 11)]
    await asyncio.gather(*(sequences.save(v) for v in reversed(versions)))
    got = await sequences.get(base.workflow_id)
    assert got is not None and got.version == 10 and got.current_task == "t10"


async def test_list_filters_and_pages_newest_first(sequences: SequenceRepository) -> None:
    project = unique_name("p")
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    a = record(project, c1, "dev", triggered_at=T0)
    b = record(project, c1, "staging", triggered_at=T0 + timedelta(minutes=1), state="started")
    c = record(
        project, c2, "dev", triggered_at=T0 + timedelta(minutes=2), sequence="remediation", service="db"
    )
    for r in (a, b, c):
        await sequences.save(r)
    await sequences.save(record(unique_name("other"), c1))

    page, total = await sequences.list(project)
    assert total == 3 and [r.workflow_id for r in page] == [c.workflow_id, b.workflow_id, a.workflow_id]
    page, total = await sequences.list(project, offset=1, limit=1)
    assert total == 3 and [r.workflow_id for r in page] == [b.workflow_id]
    assert (await sequences.list(project, name="remediation"))[1] == 1
    assert (await sequences.list(project, state="started"))[0][0].workflow_id == b.workflow_id
    assert (await sequences.list(project, stage="dev"))[1] == 2
    assert (await sequences.list(project, service="db"))[1] == 1
    assert (await sequences.list(project, keptn_context=c1))[1] == 2
    assert (await sequences.list(project, from_time=T0 + timedelta(minutes=1)))[1] == 2
    assert (await sequences.list(project, before_time=T0 + timedelta(minutes=1)))[1] == 1
    assert await sequences.list(unique_name("none")) == ([], 0)


async def test_by_context_and_context_summaries(sequences: SequenceRepository) -> None:
    project = unique_name("p")
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    dev = record(project, c1, "dev", triggered_at=T0, state="finished", status="succeeded", result="pass")
    staging = record(project, c1, "staging", triggered_at=T0 + timedelta(minutes=1), state="started")
    other = record(project, c2, "dev", triggered_at=T0 + timedelta(minutes=5), sequence="evaluation")
    for r in (staging, dev, other):
        await sequences.save(r)

    in_context = await sequences.by_context(project, c1)
    assert [r.stage for r in in_context] == ["dev", "staging"]
    assert [r.stage for r in await sequences.by_context(project, c1, "staging")] == ["staging"]

    contexts, total = await sequences.list_contexts(project)
    assert total == 2
    assert [(c.keptn_context, c.name, c.state) for c in contexts] == [
        (c2, "evaluation", "triggered"),
        (c1, "delivery", "started"),
    ]
    assert [r.stage for r in contexts[1].executions] == ["dev", "staging"]
    assert (await sequences.list_contexts(project, state="started"))[1] == 1
    assert (await sequences.list_contexts(project, name="evaluation"))[0][0].keptn_context == c2
    assert (await sequences.list_contexts(project, keptn_contexts=[c1, "x"]))[1] == 1
    assert (await sequences.list_contexts(project, from_time=T0))[1] == 1  # exclusive, like Keptn
    page, total = await sequences.list_contexts(project, offset=1, limit=1)
    assert total == 2 and page[0].keptn_context == c1

    await sequences.save(dataclasses.replace(staging, version=2, state="finished", status="succeeded"))
    contexts, _ = await sequences.list_contexts(project, keptn_contexts=[c1])
    assert contexts[0].state == "finished"


async def test_concurrent_saves_of_one_context_derive_the_right_state(sequences: SequenceRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    recs = [
        record(
            project,
            context,
            f"s{i}",
            triggered_at=T0 + timedelta(seconds=i),
            state="finished",
            status="succeeded",
        )
        for i in range(8)
    ]
    await asyncio.gather(*(sequences.save(r) for r in recs))
    contexts, _ = await sequences.list_contexts(project)
    assert contexts[0].state == "finished" and len(contexts[0].executions) == 8


def test_context_state_rules() -> None:
    def at(state: str, minute: int) -> SequenceExecutionRecord:
        return record("p", "c", triggered_at=T0 + timedelta(minutes=minute), state=state)

    assert context_state([at("triggered", 0)]) == "triggered"
    assert context_state([at("waiting", 0)]) == "waiting"
    assert context_state([at("waitingForApproval", 0)]) == "started"
    assert context_state([at("finished", 0), at("triggered", 1)]) == "started"
    assert context_state([at("paused", 0)]) == "paused"
    assert context_state([at("finished", 0), at("finished", 1)]) == "finished"
    assert context_state([at("finished", 0), at("timedOut", 1)]) == "timedOut"
    assert context_state([at("aborted", 0), at("aborted", 1)]) == "aborted"


async def test_pause_markers(sequences: SequenceRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    assert not await sequences.is_paused(project, context, "dev")
    await sequences.set_paused(project, context, "dev", True)
    await sequences.set_paused(project, context, "dev", True)  # idempotent
    assert await sequences.is_paused(project, context, "dev")
    assert not await sequences.is_paused(project, context, "prod")
    await sequences.set_paused(project, context, None, True)
    assert await sequences.is_paused(project, context, "prod")
    await sequences.set_paused(project, context, "", False)  # resuming the context clears every marker
    assert not await sequences.is_paused(project, context, "dev")
    await sequences.set_paused(project, context, "dev", True)
    await sequences.set_paused(project, context, "dev", False)
    assert not await sequences.is_paused(project, context, "dev")


async def test_triggered_events_open_route_close(triggered: TriggeredEventRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    ev = triggered_event(project, context, "sh.keptn.event.deployment.triggered")
    await triggered.open(ev, "wf-1")
    await triggered.open(ev, "wf-2")  # redelivery: first owner kept
    assert await triggered.route(ev["id"]) == ("wf-1", True)
    events, total = await triggered.list_open("sh.keptn.event.deployment.triggered", project=project)
    assert total == 1 and events == [ev]
    await triggered.close(ev["id"])
    await triggered.close(ev["id"])
    await triggered.close("unknown")
    assert await triggered.route(ev["id"]) == ("wf-1", False)
    assert await triggered.route("unknown") is None
    assert await triggered.list_open("sh.keptn.event.deployment.triggered", project=project) == ([], 0)
    await triggered.open(ev, "wf-1")  # a retried open does not re-open a closed event
    assert await triggered.route(ev["id"]) == ("wf-1", False)


async def test_list_open_filters_order_and_paging(triggered: TriggeredEventRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    kind = f"sh.keptn.event.{unique_name('task')}.triggered"
    first = triggered_event(project, context, kind, time="2024-05-01T12:00:00.000Z")
    second = triggered_event(project, context, kind, "staging", time="2024-05-01T12:01:00.000Z")
    later = triggered_event(project, str(uuid.uuid4()), kind, time="2999-01-01T00:00:00.000Z")
    for ev in (second, later, first):
        await triggered.open(ev, "wf")
    await triggered.open(triggered_event(unique_name("q"), context, kind), "wf")

    ids = lambda evs: [e["id"] for e in evs]  # noqa: E731
    events, total = await triggered.list_open(kind, project=project)
    assert total == 3 and ids(events) == [first["id"], second["id"], later["id"]]
    events, _ = await triggered.list_open(kind, project=project, newest_first=True)
    assert ids(events) == [later["id"], second["id"], first["id"]]
    events, total = await triggered.list_open(kind, project=project, until=datetime.now(UTC))
    assert total == 2
    assert (await triggered.list_open(kind, project=project, stage="staging"))[1] == 1
    assert (await triggered.list_open(kind, project=project, event_id=first["id"]))[1] == 1
    assert (await triggered.list_open(kind, project=project, keptn_context=context))[1] == 2
    assert (await triggered.list_open(kind, project=project, service="other"))[1] == 0
    events, total = await triggered.list_open(kind, project=project, offset=1, limit=1)
    assert total == 3 and ids(events) == [second["id"]]
    assert (await triggered.list_open(kind))[1] == 4
    assert (await triggered.list_open(kind, existing_projects_only=True))[1] == 0


async def test_close_context(triggered: TriggeredEventRepository) -> None:
    project, context = unique_name("p"), str(uuid.uuid4())
    kind = "sh.keptn.event.test.triggered"
    dev = triggered_event(project, context, kind)
    prod = triggered_event(project, context, kind, "prod")
    other = triggered_event(project, str(uuid.uuid4()), kind)
    for ev in (dev, prod, other):
        await triggered.open(ev, "wf")
    assert await triggered.close_context(project, context, "prod") == 1
    assert await triggered.close_context(project, context) == 1
    assert await triggered.close_context(project, context) == 0
    assert await triggered.route(dev["id"]) == ("wf", False)
    assert await triggered.route(other["id"]) == ("wf", True)
    assert await triggered.purge_closed(datetime.now(UTC) + timedelta(seconds=1)) >= 2
    assert await triggered.route(dev["id"]) is None


async def test_finished_at_is_set_by_the_write_that_ends_the_sequence(
    sequences: SequenceRepository, database: Database
) -> None:
    from sqlalchemy import select

    from store.schema import SequenceExecution

    project, ctx = unique_name("p"), str(uuid.uuid4())
    running = record(project, ctx, state="started", version=1)
    await sequences.save(running)

    async def finished_at() -> datetime | None:
        async with database.session() as session:
            table = SequenceExecution.__table__
            query = select(table.c.finished_at).where(table.c.workflow_id == running.workflow_id)
            return (await session.execute(query)).scalar_one()

    assert await finished_at() is None
    ended_at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    await sequences.save(dataclasses.replace(running, state="finished", version=2, updated_at=ended_at))
    value = await finished_at()
    assert value is not None and value.replace(tzinfo=UTC) == ended_at
