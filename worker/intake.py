"""What the worker does with every event on the KEPTN stream.

Events reach the stream from the API and straight from execution-plane services (Keptn's cp-connector
publishes on NATS). Recording each one here is what keeps `/api/mongodb-datastore` complete — Keptn's
mongodb-datastore subscribed to `sh.keptn.>` for the same reason. Recording is idempotent by CloudEvent id,
so an event the API already stored, or a redelivery after a crash, is a no-op.
"""

from __future__ import annotations

from typing import Any

from store.events import EventRepository


class EventIntake:
    def __init__(self, events: EventRepository) -> None:
        self.events = events

    async def __call__(self, event: dict[str, Any]) -> None:
        await self.events.add(event)
