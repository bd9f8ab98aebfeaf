"""api-service: `POST /api/v1/event` — validate, publish to JetStream, store, answer with the keptnContext."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request

from api.auth import api_service_auth
from api.bodies import read_swagger_object
from api.errors import KeptnHTTPError
from eventbus.publisher import PublishError
from keptn.validation import prepare_inbound_event

# Checked in this order by api-service's swagger validation.
REQUIRED_FIELDS = ("data", "source", "type")


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/v1", tags=["api-service"], dependencies=[Depends(api_service_auth)])

    @router.post("/event", summary="Send a Keptn CloudEvent")
    async def post_event(request: Request) -> dict[str, str]:
        cp = request.app.state.cp
        body = await read_swagger_object(
            request, max_bytes=cp.settings.max_event_size_kb * 1024, required=REQUIRED_FIELDS
        )
        event = prepare_inbound_event(body, now=datetime.now(UTC)).to_json_dict()
        try:
            inserted = await cp.emitter.emit(event)
        except PublishError as exc:
            raise KeptnHTTPError(500, f"could not publish event: {exc}") from exc
        if not inserted:
            # A retry of an event we already accepted: answer exactly as the first time.
            stored = await cp.events.get(event["id"])
            if stored is not None:
                return {"keptnContext": stored.get("shkeptncontext", event["shkeptncontext"])}
        return {"keptnContext": event["shkeptncontext"]}

    return [router]
