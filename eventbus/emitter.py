"""Emit a CloudEvent: publish it to JetStream, then record it in the event store.

Publish comes first on purpose. The stream is the durable log every consumer (sequence engine, executors, the
datastore ingester) reads; once the PubAck is back the event exists. Recording it right after gives the caller
read-your-writes in /api/mongodb-datastore. If recording fails the caller gets an error and retries with the same
id: JetStream drops the duplicate and the store insert is idempotent, so nothing is doubled and nothing is lost.
"""

from __future__ import annotations

from typing import Any, Protocol

from eventbus.publisher import EventPublisher


class EventStore(Protocol):
    """store.events.EventRepository, seen from here (eventbus/ does not depend on store/)."""

    async def add(self, event: dict[str, Any]) -> bool: ...


class EventEmitter:
    """Used by the API (events it accepts or announces) and by the sequence activities (events they send)."""

    def __init__(self, publisher: EventPublisher, events: EventStore) -> None:
        self.publisher = publisher
        self.events = events

    async def emit(self, event: dict[str, Any]) -> bool:
        """Returns False when the event id was already stored (a retry)."""
        await self.publisher.publish(event)
        return await self.events.add(event)
