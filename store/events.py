"""Every CloudEvent the control plane sees: what Keptn's mongodb-datastore served."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select

from store.db import Database
from store.records import EventQuery
from store.schema import ContextRoot, Event, Invalidation, utcnow
from store.sql import upsert_insert

log = logging.getLogger(__name__)

INVALIDATED_SUFFIX = ".invalidated"

# GET /event/type/{eventType} filter fields -> indexed columns.
FILTER_COLUMNS: dict[str, Any] = {
    "data.project": Event.project,
    "data.stage": Event.stage,
    "data.service": Event.service,
    "data.result": Event.result,
    "data.status": Event.status,
    "shkeptncontext": Event.keptn_context,
    "triggeredid": Event.triggered_id,
    "source": Event.source,
    "id": Event.id,
    "type": Event.type,
}


def parse_event_time(value: Any, *, default: datetime | None = None) -> datetime:
    """The event's `time` as an aware UTC datetime.

    Accepts Keptn's `2006-01-02T15:04:05.000Z`, RFC 3339 with any fraction length or offset, and a zone-less
    time (taken as UTC). A missing or unreadable time falls back to `default` (now): the event is still
    stored.
    """
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            log.debug("unreadable event time %r; using now", value)
            parsed = None
    else:
        parsed = None
    if parsed is None:
        return default or utcnow()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    """A query column value: strings kept, other scalars stringified, absent/empty/structured values None."""
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def _columns(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    return {
        "id": str(event["id"]),
        "type": _text(event.get("type")) or "",
        "source": _text(event.get("source")),
        "time": parse_event_time(event.get("time")),
        "project": _text(data.get("project")),
        "stage": _text(data.get("stage")),
        "service": _text(data.get("service")),
        "keptn_context": _text(event.get("shkeptncontext")),
        "triggered_id": _text(event.get("triggeredid")),
        "gitcommitid": _text(event.get("gitcommitid")),
        "result": _text(data.get("result")),
        "status": _text(data.get("status")),
        "payload": json.dumps(event, separators=(",", ":"), default=str),
    }


def _not_invalidated() -> ColumnElement[bool]:
    # Keptn matches an invalidation's triggeredid against the event's id (0.7) or its triggeredid (0.8+).
    # Two NOT EXISTS instead of one OR so that each can use the invalidations primary key.
    by_id = ~exists().where(Invalidation.triggered_id == Event.id)
    by_triggered = or_(
        Event.triggered_id.is_(None), ~exists().where(Invalidation.triggered_id == Event.triggered_id)
    )
    return by_id & by_triggered


NEWEST_FIRST = (Event.time.desc(), Event.seq.desc())


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, event: dict[str, Any]) -> bool:
        """Store a CloudEvent (wire JSON dict). Idempotent by `id`: returns False if it was already stored.

        Query columns (type, source, time, project/stage/service from `data`, shkeptncontext, triggeredid,
        gitcommitid, data.result, data.status) are extracted here. The first stored event of a keptnContext
        becomes that context's root event.
        """
        if not event.get("id"):
            raise ValueError("an event needs an id")
        row = _columns(event)
        async with self.db.session(write=True) as session:
            # ON CONFLICT DO NOTHING: redeliveries (NATS, client retries, several replicas) are no-ops, and
            # two concurrent inserts of one id cannot both succeed nor fail with an error.
            ins = upsert_insert(session, Event.__table__).values(**row)
            ins = ins.on_conflict_do_nothing(index_elements=["id"]).returning(Event.__table__.c.seq)
            if (await session.execute(ins)).first() is None:
                return False
            if row["keptn_context"]:
                root = upsert_insert(session, ContextRoot.__table__).values(
                    keptn_context=row["keptn_context"],
                    event_id=row["id"],
                    project=row["project"],
                    time=row["time"],
                )
                await session.execute(root.on_conflict_do_nothing(index_elements=["keptn_context"]))
            if row["type"].endswith(INVALIDATED_SUFFIX) and row["triggered_id"]:
                inv = upsert_insert(session, Invalidation.__table__).values(
                    triggered_id=row["triggered_id"],
                    event_id=row["id"],
                    project=row["project"],
                    time=row["time"],
                )
                await session.execute(inv.on_conflict_do_nothing(index_elements=["triggered_id"]))
            return True

    async def query(self, q: EventQuery) -> tuple[list[dict[str, Any]], int]:
        """Events matching `q`, newest first (time DESC, then insertion order DESC); (page, total).

        Empty-string filters count as absent. `from_time` is inclusive, `before_time` exclusive."""
        conditions: list[ColumnElement[bool]] = []
        for column, value in (
            (Event.keptn_context, q.keptn_context),
            (Event.type, q.type),
            (Event.project, q.project),
            (Event.stage, q.stage),
            (Event.service, q.service),
            (Event.id, q.event_id),
            (Event.source, q.source),
        ):
            if value:
                conditions.append(column == value)
        if q.from_time is not None:
            conditions.append(Event.time >= q.from_time)
        if q.before_time is not None:
            conditions.append(Event.time < q.before_time)
        base = select(Event.payload).where(*conditions)
        if q.root:
            base = base.join(ContextRoot, ContextRoot.event_id == Event.id)
        async with self.db.session() as session:
            total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
            if total == 0:
                return [], 0
            page = base.order_by(*NEWEST_FIRST).offset(max(q.offset, 0)).limit(max(q.limit, 0))
            payloads = (await session.execute(page)).scalars().all()
        return [json.loads(p) for p in payloads], total

    async def query_by_type(
        self,
        event_type: str,
        filters: dict[str, list[str]],
        exclude_invalidated: bool,
        from_time: datetime | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """GET /event/type/{eventType}: `filters` maps a field (`data.project`, `data.stage`,
        `data.service`, `data.result`, `data.status`, `shkeptncontext`, `triggeredid`, `source`, `id`) to
        accepted values (OR).
        `exclude_invalidated` drops events whose triggeredid was invalidated by a `*.invalidated` event.
        Newest first. `from_time` is inclusive; `limit` <= 0 means no limit; an unknown field raises
        ValueError.
        """
        conditions: list[ColumnElement[bool]] = [Event.type == event_type]
        for field, values in filters.items():
            column = FILTER_COLUMNS.get(field)
            if column is None:
                raise ValueError(f"unsupported filter field {field!r}")
            if values:
                conditions.append(column.in_(list(values)))
        if from_time is not None:
            conditions.append(Event.time >= from_time)
        if exclude_invalidated:
            conditions.append(_not_invalidated())
        stmt = select(Event.payload).where(*conditions).order_by(*NEWEST_FIRST)
        if limit > 0:
            stmt = stmt.limit(limit)
        async with self.db.session() as session:
            payloads = (await session.execute(stmt)).scalars().all()
        return [json.loads(p) for p in payloads]

    async def get(self, event_id: str) -> dict[str, Any] | None:
        async with self.db.session() as session:
            payload = (await session.execute(select(Event.payload).where(Event.id == event_id))).scalar()
        return None if payload is None else json.loads(payload)

    async def count_by_project_service_type(
        self, from_time: datetime, to_time: datetime
    ) -> dict[str, dict[str, dict[str, int]]]:
        """{project: {service: {event type: count}}} for events in [from_time, to_time] (statistics-service).

        Events without a project or service are not counted."""
        stmt = (
            select(Event.project, Event.service, Event.type, func.count())
            .where(
                Event.time >= from_time,
                Event.time <= to_time,
                Event.project.is_not(None),
                Event.service.is_not(None),
            )
            .group_by(Event.project, Event.service, Event.type)
        )
        result: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        async with self.db.session() as session:
            for project, service, event_type, count in await session.execute(stmt):
                result[project][service][event_type] = count
        return {p: dict(services) for p, services in result.items()}
