"""statistics-service: usage counts per project, service and event type, computed from the event store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.auth import gateway_auth
from api.state import ControlPlane


class StatisticsError(Exception):
    """statistics-service's envelope is `{"message", "errorCode"}`; we add `code` so it also has Keptn's usual shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> JSONResponse:
        body = {"code": self.status, "message": self.message, "errorCode": self.status}
        return JSONResponse(status_code=self.status, content=body)


def _unix(value: str | None) -> datetime:
    if not value:
        return datetime.fromtimestamp(0, tz=UTC)  # gin bound a missing bound to the zero time
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise StatisticsError(400, "Invalid request format") from exc


def _service_view(name: str, types: dict[str, int]) -> dict[str, Any]:
    sequences = {t: n for t, n in types.items() if t.count(".") == 5 and t.endswith(".triggered")}
    return {
        "name": name,
        "events": [{"type": t, "count": n} for t, n in sorted(types.items())],
        "executedSequencesPerType": [{"type": t, "count": n} for t, n in sorted(sequences.items())],
    }


async def compute(cp: ControlPlane, from_: str | None, to: str | None) -> dict[str, Any]:
    start = _unix(from_)
    end = _unix(to) if to else datetime.now(UTC)
    if end < start:
        raise StatisticsError(
            400, "Invalid time frame: 'from' timestamp must not be greater than 'to' timestamp"
        )
    counts = await cp.events.count_by_project_service_type(start, end)
    if not counts:
        raise StatisticsError(404, "no statistics found for selected time frame")
    projects = [
        {"name": project, "services": [_service_view(s, types) for s, types in sorted(services.items())]}
        for project, services in sorted(counts.items())
    ]
    return {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "projects": projects,
    }


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/statistics/v1", tags=["statistics"], dependencies=[Depends(gateway_auth)])

    @router.get(
        "/statistics", summary="Usage statistics for a time frame (unix seconds)", response_model=None
    )
    async def statistics(request: Request, to: str | None = None) -> dict[str, Any] | JSONResponse:
        try:
            return await compute(request.app.state.cp, request.query_params.get("from"), to)
        except StatisticsError as exc:
            return exc.response()

    return [router]
