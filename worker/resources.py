"""The connections a worker process opens once and shares: database, NATS/JetStream, repositories."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from eventbus.connection import connect
from eventbus.publisher import EventPublisher
from keptn_temporal.settings import Settings
from store.db import Database
from store.events import EventRepository

log = logging.getLogger(__name__)


@dataclass
class WorkerResources:
    settings: Settings
    db: Database
    nats: NATS
    js: JetStreamContext
    events: EventRepository
    publisher: EventPublisher

    @classmethod
    async def open(cls, settings: Settings) -> WorkerResources:
        db = Database(settings.database_url)
        nc = await connect(settings.effective_nats_url, name=f"keptn-worker-{os.getpid()}")
        js = nc.jetstream(timeout=5)
        return cls(
            settings=settings,
            db=db,
            nats=nc,
            js=js,
            events=EventRepository(db),
            publisher=EventPublisher(js, settings.stream_name),
        )

    async def close(self) -> None:
        try:
            await self.nats.drain()
        except Exception:  # closing must never keep the process from exiting
            log.exception("NATS drain failed")
        await self.db.dispose()
