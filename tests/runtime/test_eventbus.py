"""eventbus/ on a real nats-server: migrate owns the stream; publishes are acked and de-duplicated."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from eventbus.connection import connect
from eventbus.publisher import MSG_ID_HEADER, EventPublisher, PublishError
from eventbus.stream import StreamChange, StreamConfigError, ensure_stream, stream_config
from keptn_temporal.settings import Settings
from tests.fixtures.servers import SettingsFactory

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def nc(private_nats_url: str) -> AsyncIterator[NATS]:
    # A server of its own per test: these tests create, change and break the stream that captures
    # `sh.keptn.>`, which other tests on the shared server rely on.
    conn = await connect(private_nats_url, "test-eventbus")
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream(timeout=5)


@pytest.fixture
def settings(settings_factory: SettingsFactory, private_nats_url: str) -> Settings:
    return settings_factory(nats_url=private_nats_url)


def _event(**overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": "sh.keptn.event.dev.delivery.triggered",
        "time": "2024-01-01T00:00:00.000Z",
        "contenttype": "application/json",
        "shkeptncontext": str(uuid.uuid4()),
        "shkeptnspecversion": "0.2.4",
        "data": {"project": "sockshop", "stage": "dev", "service": "carts"},
    }
    event.update(overrides)
    return event


async def test_ensure_stream_creates_the_stream_as_configured(
    js: JetStreamContext, settings: Settings
) -> None:
    assert await ensure_stream(js, settings) is StreamChange.CREATED

    config = (await js.stream_info(settings.stream_name)).config
    assert config.subjects == ["sh.keptn.>"]
    assert config.retention == RetentionPolicy.LIMITS
    assert config.storage == StorageType.FILE
    assert config.discard == DiscardPolicy.OLD
    assert config.num_replicas == 1
    assert config.max_age == pytest.approx(settings.stream_max_age_s)
    assert config.duplicate_window == pytest.approx(settings.stream_duplicate_window_s)


async def test_ensure_stream_is_idempotent_and_keeps_foreign_fields(
    js: JetStreamContext, settings: Settings
) -> None:
    await ensure_stream(js, settings)
    # An operator tunes a field we do not own; re-running migrate must neither touch nor "fix" it.
    info = await js.stream_info(settings.stream_name)
    await js.update_stream(info.config.evolve(description="tuned by an operator", max_msgs=1_000_000))

    assert await ensure_stream(js, settings) is StreamChange.UNCHANGED
    assert await ensure_stream(js, settings) is StreamChange.UNCHANGED

    config = (await js.stream_info(settings.stream_name)).config
    assert config.description == "tuned by an operator"
    assert config.max_msgs == 1_000_000


async def test_ensure_stream_updates_once_per_real_change(js: JetStreamContext, settings: Settings) -> None:
    await ensure_stream(js, settings)
    longer = dataclasses.replace(settings, stream_duplicate_window_s=settings.stream_duplicate_window_s * 2)

    # Upgrade: one update, then stable. Downgrade (an explicit migrate with the old value): same again.
    assert await ensure_stream(js, longer) is StreamChange.UPDATED
    assert await ensure_stream(js, longer) is StreamChange.UNCHANGED
    assert (await js.stream_info(settings.stream_name)).config.duplicate_window == pytest.approx(
        longer.stream_duplicate_window_s
    )
    assert await ensure_stream(js, settings) is StreamChange.UPDATED
    assert await ensure_stream(js, settings) is StreamChange.UNCHANGED


async def test_ensure_stream_refuses_an_in_place_storage_change(
    js: JetStreamContext, settings: Settings
) -> None:
    memory = stream_config(settings)
    memory.storage = StorageType.MEMORY
    await js.add_stream(memory)

    with pytest.raises(StreamConfigError, match="storage"):
        await ensure_stream(js, settings)
    assert (await js.stream_info(settings.stream_name)).config.storage == StorageType.MEMORY


async def test_publish_stores_the_event_under_its_type(js: JetStreamContext, settings: Settings) -> None:
    await ensure_stream(js, settings)
    event = _event()

    seq = await EventPublisher(js, settings.stream_name).publish(event)

    stored = await js.get_msg(settings.stream_name, seq)
    assert stored.subject == event["type"]
    assert json.loads(stored.data) == event
    assert stored.headers is not None and stored.headers[MSG_ID_HEADER] == event["id"]


async def test_publish_twice_with_the_same_id_stores_one_message(
    js: JetStreamContext, settings: Settings
) -> None:
    await ensure_stream(js, settings)
    publisher = EventPublisher(js, settings.stream_name)
    event = _event()

    first = await publisher.publish(event)
    second = await publisher.publish(dict(event))  # a client retry after a lost response
    other = await publisher.publish(_event())

    assert second == first
    assert other == first + 1
    state = (await js.stream_info(settings.stream_name)).state
    assert state.messages == 2


async def test_publish_without_a_stream_raises_after_retries(
    js: JetStreamContext, settings: Settings
) -> None:
    publisher = EventPublisher(js, settings.stream_name, timeout_s=0.5, attempts=2, backoff_s=0.01)

    with pytest.raises(PublishError, match="after 2 attempts"):
        await publisher.publish(_event())


async def test_publish_refuses_a_stream_other_than_expected(js: JetStreamContext, settings: Settings) -> None:
    await ensure_stream(js, settings)
    publisher = EventPublisher(js, "NOT_" + settings.stream_name, attempts=3)

    with pytest.raises(PublishError, match="rejected"):
        await publisher.publish(_event())
    assert (await js.stream_info(settings.stream_name)).state.messages == 0


async def test_stream_config_uses_settings() -> None:
    # Pure mapping check, no server: the knobs that matter for dedup and retention come from settings.
    s = dataclasses.replace(_settings_stub(), stream_max_age_s=60.0, stream_duplicate_window_s=30.0)
    config: StreamConfig = stream_config(s)
    assert (config.name, config.max_age, config.duplicate_window) == (s.stream_name, 60.0, 30.0)


def _settings_stub() -> Settings:
    from pathlib import Path

    return Settings(
        data_dir=Path("/nonexistent"),
        api_host="127.0.0.1",
        api_port=0,
        api_token="t",
        api_token_generated=False,
        database_url="sqlite+aiosqlite://",
        secret_key="k",
        temporal_address=None,
        temporal_namespace="default",
        temporal_port=0,
        temporal_ui_port=0,
        task_queue="q",
        nats_url=None,
        nats_port=0,
    )
