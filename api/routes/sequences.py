"""shipyard-controller: sequence states, sequence executions and open `.triggered` events under
`/api/controlPlane/v1`, read from the tables the sequence workflows keep current.

Shapes follow Keptn 1.4.5 (`statehandler.go` + go-utils `SequenceState`, `sequenceexecutionhandler.go` +
`models.SequenceExecution`, `eventhandler.go GetTriggeredEvents`), including its paging quirks: GET /sequence
and GET /sequence-execution return everything unless `pageSize` is given and omit zero numbers; GET
/event/triggered pages by 20 with a string `nextPageKey` ("0" on the last page).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import gateway_auth
from api.errors import KeptnHTTPError
from api.paging import parse_gin_page, parse_unbounded_page
from api.routes.datastore import parse_time
from api.state import ControlPlane
from keptn.events import format_keptn_time
from store.errors import NotFoundError
from store.sequences import (
    ABORTED,
    FINISHED,
    PAUSED,
    TIMED_OUT,
    SequenceContextRecord,
    SequenceExecutionRecord,
)
from store.uniform import format_go_time

PREFIX = "/api/controlPlane/v1"
SCHEMA_VERSION = "1"


def _cp(request: Request) -> ControlPlane:
    return request.app.state.cp


async def require_project(request: Request, project: str) -> None:
    cp: ControlPlane = request.app.state.cp
    try:
        await cp.projects.get_project(project)
    except NotFoundError as exc:
        raise KeptnHTTPError(404, "project not found") from exc


# --- GET /sequence/{project}: Keptn's SequenceState materialized view -------------------------------------


def stage_state(record: SequenceExecutionRecord) -> str:
    """A stage's state as Keptn's view kept it: `triggered` while running, `paused`, and at the end the
    status of the stage's `<stage>.<sequence>.finished` event (succeeded, errored, aborted, ...)."""
    if record.state == PAUSED:
        return PAUSED
    if record.state in (FINISHED, ABORTED, TIMED_OUT):
        return record.status or record.state
    return "triggered"


def stage_view(records: list[SequenceExecutionRecord]) -> dict[str, Any]:
    """One stage of a context; several executions of a stage (e.g. remediation loops) fold into one, the
    latest one winning as Keptn's view updated the stage entry in place."""
    latest = records[-1]
    out: dict[str, Any] = {"name": latest.stage}
    image = next((r.image for r in reversed(records) if r.image), "")
    if image:
        out["image"] = image
    out["state"] = stage_state(latest)
    for key, attr in (
        ("latestEvaluation", "latest_evaluation"),
        ("latestEvent", "latest_event"),
        ("latestFailedEvent", "latest_failed_event"),
    ):
        value = next((getattr(r, attr) for r in reversed(records) if getattr(r, attr)), None)
        if value:
            out[key] = value
    return out


def sequence_state_view(context: SequenceContextRecord) -> dict[str, Any]:
    executions = context.executions
    root = executions[0] if executions else None
    stages: dict[str, list[SequenceExecutionRecord]] = {}
    for record in executions:
        stages.setdefault(record.stage, []).append(record)
    out: dict[str, Any] = {
        "name": context.name,
        "service": context.service,
        "project": context.project,
        "time": format_keptn_time(context.triggered_at),
        "shkeptncontext": context.keptn_context,
        "state": context.state,
        "stages": [stage_view(records) for records in stages.values()],
    }
    if root is not None and root.problem_title:
        out["problemTitle"] = root.problem_title
    return out


# --- GET /sequence-execution: Keptn's SequenceExecution ------------------------------------------------------


def sequence_execution_view(record: SequenceExecutionRecord) -> dict[str, Any]:
    scope: dict[str, Any] = {"project": record.project, "stage": record.stage, "service": record.service}
    if record.labels:
        scope["labels"] = record.labels
    if record.status:
        scope["status"] = record.status
    if record.result:
        scope["result"] = record.result
    scope |= {
        "keptnContext": record.keptn_context,
        "triggeredId": record.triggered_id,
        "gitcommitid": record.gitcommitid,
        "eventType": f"sh.keptn.event.{record.stage}.{record.sequence}.triggered",
    }
    return {
        "_id": record.workflow_id,
        "schemaVersion": SCHEMA_VERSION,
        "sequence": {"name": record.sequence, "tasks": record.tasks},
        "status": {
            "state": record.state,
            "stateBeforePause": record.state_before_pause,
            "previousTasks": record.previous_tasks,
            "currentTask": {
                "name": record.current_task,
                "triggeredID": record.current_task_triggered_id,
                "events": record.current_task_events,
            },
        },
        "scope": scope,
        "inputProperties": record.input_properties,
        "triggeredAt": format_go_time(record.triggered_at),
    }


def routers() -> list[APIRouter]:
    router = APIRouter(prefix=PREFIX, tags=["Sequence"], dependencies=[Depends(gateway_auth)])

    @router.get("/sequence/{project}", summary="Get the sequence states of a project")
    async def get_sequence_states(
        request: Request,
        project: str,
        name: str | None = None,
        state: str | None = None,
        fromTime: str | None = None,
        beforeTime: str | None = None,
        keptnContext: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        # Keptn did not check the project: an unknown one simply has no sequences.
        page = parse_unbounded_page(pageSize, nextPageKey)
        contexts, total = await _cp(request).sequences.list_contexts(
            project,
            name=name or None,
            state=state or None,
            keptn_contexts=(keptnContext or "").replace(" ", "").split(","),
            from_time=parse_time(fromTime, "fromTime"),
            before_time=parse_time(beforeTime, "beforeTime"),
            offset=page.offset,
            limit=page.limit,
        )
        return {"states": [sequence_state_view(c) for c in contexts], **page.envelope(total)}

    @router.get("/sequence-execution", summary="Get sequence executions")
    async def get_sequence_executions(
        request: Request,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        name: str | None = None,
        status: str | None = None,
        keptnContext: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        page = parse_unbounded_page(pageSize, nextPageKey)
        if not project:
            raise KeptnHTTPError(400, "Invalid request format: project name must not be empty")
        await require_project(request, project)
        records, total = await _cp(request).sequences.list(
            project,
            name=name or None,
            state=status or None,
            stage=stage or None,
            service=service or None,
            keptn_context=keptnContext or None,
            offset=page.offset,
            limit=page.limit,
        )
        out: dict[str, Any] = page.envelope(total)
        if records:
            out["pageSize"] = len(records)
        out["sequenceExecutions"] = [sequence_execution_view(r) for r in records]
        return out

    @router.get("/event/triggered/{eventType}", summary="Get open .triggered events")
    async def get_triggered_events(
        request: Request,
        eventType: str,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        eventID: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        page = parse_gin_page(pageSize, nextPageKey)
        if project:
            await require_project(request, project)
        events, total = await _cp(request).triggered.list_open(
            eventType,
            project=project or None,
            stage=stage or None,
            service=service or None,
            event_id=eventID or None,
            offset=page.offset,
            limit=page.size,
            newest_first=True,  # Keptn sorted by time, newest first
            until=datetime.now(UTC),  # events delayed by triggeredAfter show once they are due
            existing_projects_only=not project,
        )
        out: dict[str, Any] = {"events": events}
        out |= page.gin_envelope(total)
        return out

    return [router]
