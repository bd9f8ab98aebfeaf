"""Events published straight to NATS (as execution-plane services do) reach the datastore exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from eventbus.connection import connect
from eventbus.consumer import DurableConsumer
from eventbus.stream import CONTROL_PLANE_CONSUMER, StreamChange, ensure_consumer, ensure_stream
from store.db import Database
from store.events import EventRepository
from store.records import EventQuery
from tests.fixtures.databases import unique_name
from tests.fixtures.servers import SettingsFactory
from worker.intake import EventIntake

pytestmark = pytest.mark.asyncio(loop_scope="session")


def executor_event(project: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "helm-service",
        "type": "sh.keptn.event.deployment.started",
        "time": "2026-01-01T00:00:00.000Z",
        "shkeptncontext": str(uuid.uuid4()),
        "triggeredid": str(uuid.uuid4()),
        "data": {"project": project, "stage": "dev", "service": "carts", "status": "succeeded"},
    }


async def until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_intake_records_direct_nats_events_once(
    settings_factory: SettingsFactory, private_nats_url: str, database: Database
) -> None:
    settings = settings_factory(nats_url=private_nats_url)
    nc = await connect(private_nats_url, "test-intake")
    js = nc.jetstream()
    await ensure_stream(js, settings)
    assert await ensure_consumer(js, settings) == StreamChange.CREATED
    assert await ensure_consumer(js, settings) == StreamChange.UNCHANGED

    project = unique_name("intake")
    events = EventRepository(database)
    first = executor_event(project)
    # A core-NATS publish, like Keptn's cp-connector: the stream captures it by subject.
    await nc.publish(first["type"], json.dumps(first).encode())
    await nc.publish("sh.keptn.event.deployment.started", b"not json")  # a poison message
    await nc.publish(first["type"], json.dumps(first).encode())  # the same event again
    await nc.flush()

    stop = asyncio.Event()
    consumer = DurableConsumer(
        js, stream=settings.stream_name, durable=CONTROL_PLANE_CONSUMER, handler=EventIntake(events)
    )
    task = asyncio.create_task(consumer.run(stop))

    async def stored() -> bool:
        return (await events.query(EventQuery(project=project)))[1] >= 1

    await until(stored)
    await until(lambda: asyncio.sleep(0, consumer.handled >= 2))
    stop.set()
    await asyncio.wait_for(task, 5)
    found, total = await events.query(EventQuery(project=project))
    assert total == 1 and found[0]["id"] == first["id"]
    info = await js.consumer_info(settings.stream_name, CONTROL_PLANE_CONSUMER)
    assert info.num_pending == 0 and info.num_ack_pending == 0  # all three handled, the poison one terminated
    await nc.close()


async def test_failed_handling_is_retried_not_lost(
    settings_factory: SettingsFactory, private_nats_url: str
) -> None:
    settings = settings_factory(nats_url=private_nats_url)
    nc = await connect(private_nats_url, "test-intake-retry")
    js = nc.jetstream()
    await ensure_stream(js, settings)
    await ensure_consumer(js, settings)
    event = executor_event("retry")
    await js.publish(event["type"], json.dumps(event).encode(), headers={"Nats-Msg-Id": event["id"]})

    attempts: list[str] = []

    async def flaky(e: dict[str, Any]) -> None:
        attempts.append(e["id"])
        if len(attempts) == 1:
            raise RuntimeError("database briefly unavailable")

    stop = asyncio.Event()
    consumer = DurableConsumer(
        js, stream=settings.stream_name, durable=CONTROL_PLANE_CONSUMER, handler=flaky, retry_delay_s=0.2
    )
    task = asyncio.create_task(consumer.run(stop))
    await until(lambda: asyncio.sleep(0, consumer.handled == 1))
    stop.set()
    await asyncio.wait_for(task, 5)
    assert attempts == [event["id"], event["id"]]
    await nc.close()
