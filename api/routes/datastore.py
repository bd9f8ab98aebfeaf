"""mongodb-datastore: `/api/mongodb-datastore/event` and `/event/type/{eventType}`, served from our event store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import gateway_auth
from api.errors import KeptnHTTPError
from api.paging import parse_swagger_int, parse_swagger_page
from api.state import ControlPlane
from keptn.events import parse_keptn_time
from store.records import EventQuery

TYPE_FILTER_FIELDS = {
    "data.project",
    "data.stage",
    "data.service",
    "data.result",
    "data.status",
    "shkeptncontext",
    "triggeredid",
    "source",
    "id",
}


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_keptn_time(value)
    except ValueError as exc:
        raise KeptnHTTPError(400, f"invalid {name}: {value}") from exc


def parse_root(value: str | None) -> bool:
    # Keptn switched to root events for any non-empty value, even "false"; we read "false"/"0" as false.
    return value not in (None, "") and value.lower() not in ("false", "0")


def parse_swagger_bool(value: str | None, name: str) -> bool:
    if value in (None, ""):
        return False
    lowered = value.lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise KeptnHTTPError(422, f'{name} in query must be of type bool: "{value}"', code=601)


def parse_type_filter(text: str) -> dict[str, list[str]]:
    """`data.project:p AND data.result:pass,warning` -> {"data.project": ["p"], "data.result": ["pass", "warning"]}.

    Like Keptn, a clause that is not exactly `key:value` is skipped; unlike Keptn (which passed any Mongo path
    through), a field we do not index is refused rather than silently matching nothing."""
    filters: dict[str, list[str]] = {}
    for clause in text.split(" AND "):
        parts = clause.strip().split(":")
        if len(parts) != 2:
            continue
        key, values = parts
        if key not in TYPE_FILTER_FIELDS:
            raise KeptnHTTPError(400, f"invalid event filter: unsupported field '{key}'")
        accepted = [v for v in values.split(",") if v]
        if accepted:
            filters[key] = accepted
    if not filters.get("data.project") and not filters.get("shkeptncontext"):
        raise KeptnHTTPError(
            400, "invalid event filter: either 'shkeptncontext' or 'data.project' must be set"
        )
    return filters


def routers() -> list[APIRouter]:
    router = APIRouter(
        prefix="/api/mongodb-datastore", tags=["mongodb-datastore"], dependencies=[Depends(gateway_auth)]
    )

    @router.get("/event", summary="Get events")
    async def get_events(
        request: Request,
        keptnContext: str | None = None,
        type: str | None = None,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        eventID: str | None = None,
        source: str | None = None,
        fromTime: str | None = None,
        beforeTime: str | None = None,
        root: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        page = parse_swagger_page(pageSize, nextPageKey, maximum=100)
        query = EventQuery(
            keptn_context=keptnContext or None,
            type=type or None,
            project=project or None,
            stage=stage or None,
            service=service or None,
            event_id=eventID or None,
            source=source or None,
            from_time=parse_time(fromTime, "fromTime"),
            before_time=parse_time(beforeTime, "beforeTime"),
            root=parse_root(root),
            offset=page.offset,
            limit=page.size,
        )
        events, total = await cp.events.query(query)
        # Keptn omits a zero totalCount; its zero-downtime probe expects exactly {"events":[],"pageSize":20}.
        return {"events": events, **page.swagger_envelope(total)}

    @router.get("/event/type/{eventType}", summary="Get events of one type by filter")
    async def get_events_by_type(
        request: Request,
        eventType: str,
        filter: str | None = None,
        excludeInvalidated: str | None = None,
        fromTime: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        if not filter:
            raise KeptnHTTPError(422, "filter in query is required", code=602)
        exclude = parse_swagger_bool(excludeInvalidated, "excludeInvalidated")
        max_events = parse_swagger_int(limit, "limit", default=20, minimum=1, maximum=100)
        events = await cp.events.query_by_type(
            eventType, parse_type_filter(filter), exclude, parse_time(fromTime, "fromTime"), max_events
        )
        return {"events": events}

    return [router]
