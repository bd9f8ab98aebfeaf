"""Every CloudEvent the control plane sees: what Keptn's mongodb-datastore served."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.db import Database
from store.records import EventQuery


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, event: dict[str, Any]) -> bool:
        """Store a CloudEvent (wire JSON dict). Idempotent by `id`: returns False if it was already stored.

        Query columns (type, source, time, project/stage/service from `data`, shkeptncontext, triggeredid,
        gitcommitid, data.result, data.status) are extracted here. The first stored event of a keptnContext
        becomes that context's root event.
        """
        raise NotImplementedError

    async def query(self, q: EventQuery) -> tuple[list[dict[str, Any]], int]:
        """Events matching `q`, newest first (time DESC, then insertion order DESC); (page, total)."""
        raise NotImplementedError

    async def query_by_type(
        self,
        event_type: str,
        filters: dict[str, list[str]],
        exclude_invalidated: bool,
        from_time: datetime | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """GET /event/type/{eventType}: `filters` maps a field (`data.project`, `data.stage`, `data.service`,
        `data.result`, `data.status`, `shkeptncontext`, `triggeredid`, `source`, `id`) to accepted values (OR).
        `exclude_invalidated` drops events whose triggeredid was invalidated by a `*.invalidated` event.
        Newest first."""
        raise NotImplementedError

    async def get(self, event_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def count_by_project_service_type(
        self, from_time: datetime, to_time: datetime
    ) -> dict[str, dict[str, dict[str, int]]]:
        """{project: {service: {event type: count}}} for events in [from_time, to_time] (statistics-service)."""
        raise NotImplementedError
