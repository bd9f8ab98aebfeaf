"""`keptn-temporal migrate`: the one step that changes shared state (schema, stream, search attributes).

It runs once per rollout (a Job, an init step, or in-process by `up`), never in every replica: replicas
that create or update shared config at startup flap it during rolling upgrades and downgrades.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client

from eventbus.connection import connect as nats_connect
from eventbus.stream import CONTROL_PLANE_CONSUMER, ensure_consumer, ensure_stream
from keptn_temporal.settings import Settings
from keptn_temporal.temporal_client import connect_client, register_search_attributes

log = logging.getLogger(__name__)


def run_store_migrations(database_url: str) -> None:
    from store.migrate import run_migrations  # store/ owns the schema; imported only when migrating

    run_migrations(database_url)


async def migrate(settings: Settings, *, temporal_client: Client | None = None) -> None:
    # Alembic's env may call asyncio.run() for the async engine, which cannot nest in our running loop:
    # a worker thread has no loop of its own.
    await asyncio.to_thread(run_store_migrations, settings.database_url)
    log.info("database schema is current")

    nc = await nats_connect(settings.effective_nats_url, "keptn-temporal-migrate", allow_reconnect=False)
    try:
        js = nc.jetstream()
        change = await ensure_stream(js, settings)
        consumer_change = await ensure_consumer(js, settings)
    finally:
        await nc.close()
    log.info("stream %s: %s", settings.stream_name, change.value)
    log.info("consumer %s: %s", CONTROL_PLANE_CONSUMER, consumer_change.value)

    # The embedded dev server gets the search attributes as start flags; an external Temporal needs them
    # registered through the operator service.
    if settings.temporal_address:
        client = temporal_client or await connect_client(settings)
        added = await register_search_attributes(client)
        log.info("search attributes: %s", f"added {added}" if added else "all present")
