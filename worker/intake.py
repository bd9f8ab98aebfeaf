"""What the worker does with every event on the KEPTN stream.

Events reach the stream from the API and straight from execution-plane services (Keptn's cp-connector
publishes on NATS). Each is recorded — that keeps `/api/mongodb-datastore` complete, as Keptn's
mongodb-datastore did by subscribing to `sh.keptn.>` — and the service's `lastEventTypes` are updated; then
the sequence engine routes it. Every step is idempotent by CloudEvent id, so an event the API already stored,
or a redelivery after a crash, changes nothing twice.
"""

from __future__ import annotations

from typing import Any

from keptn.events import format_unix_nanos, parse_keptn_time
from store.events import EventRepository
from store.projects import ProjectRepository
from worker.routing import SequenceRouter


def _unix_nanos(time: str) -> str:
    try:
        return format_unix_nanos(parse_keptn_time(time))
    except (ValueError, TypeError):
        return ""


def _deployed_image(event: dict[str, Any]) -> str | None:
    if event.get("type") != "sh.keptn.event.deployment.finished":
        return None
    data = event.get("data") or {}
    image = (data.get("deployment") or {}).get("image") or (
        (data.get("configurationChange") or {}).get("values") or {}
    ).get("image")
    return image if isinstance(image, str) and image else None


class EventIntake:
    def __init__(
        self,
        events: EventRepository,
        projects: ProjectRepository | None = None,
        router: SequenceRouter | None = None,
    ) -> None:
        self.events = events
        self.projects = projects
        self.router = router

    async def __call__(self, event: dict[str, Any]) -> None:
        await self.events.add(event)
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        project, stage, service = data.get("project"), data.get("stage"), data.get("service")
        if self.projects is not None and all(isinstance(v, str) and v for v in (project, stage, service)):
            await self.projects.record_service_event(
                project,
                stage,
                service,
                event["type"],
                event["id"],
                event.get("shkeptncontext", ""),
                _unix_nanos(event.get("time", "")),
                deployed_image=_deployed_image(event),
            )
        if self.router is not None:
            await self.router.route(event)
