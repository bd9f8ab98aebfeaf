"""shipyard-controller: sequence control (pause / resume / abort) and `keptn trigger evaluation`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from temporalio.service import RPCError, RPCStatusCode

from api.auth import gateway_auth
from api.bodies import read_gin_object
from api.errors import KeptnHTTPError
from api.state import ControlPlane
from keptn.evaluation import evaluation_triggered_data, evaluation_window
from keptn.events import format_keptn_time, keptn_context_from
from keptn.sequence import STATE_ABORTED, STATE_FINISHED, STATE_TIMED_OUT
from store.errors import NotFoundError
from store.records import EventQuery
from workflows.messages import ControlSignal

CONTROL_STATES = ("pause", "resume", "abort")
FINAL_STATES = (STATE_FINISHED, STATE_ABORTED, STATE_TIMED_OUT)


def routers() -> list[APIRouter]:
    router = APIRouter(
        prefix="/api/controlPlane/v1", tags=["controlPlane"], dependencies=[Depends(gateway_auth)]
    )

    @router.post("/sequence/{project}/{keptnContext}/control", summary="Pause, resume or abort a sequence")
    async def control(request: Request, project: str, keptnContext: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        body = await read_gin_object(request)
        action, stage = body.get("state"), body.get("stage") or None
        if action not in CONTROL_STATES:
            raise KeptnHTTPError(400, f"invalid state '{action}': must be one of pause, resume, abort")
        try:
            await cp.projects.get_project(project)
        except NotFoundError as exc:
            raise KeptnHTTPError(404, "project not found") from exc
        sequences = cp.sequences
        executions = await sequences.by_context(project, keptnContext, stage)
        if not executions:
            _, known = await cp.events.query(EventQuery(project=project, keptn_context=keptnContext, limit=1))
            if not known:
                raise KeptnHTTPError(404, "sequence not found")
        if action != "abort":
            # Also for sequences of this context that are triggered later (e.g. the next stage).
            await sequences.set_paused(project, keptnContext, stage, action == "pause")
        client = await request.app.state.temporal.get()
        for execution in executions:
            if execution.state in FINAL_STATES:
                continue
            try:
                await client.get_workflow_handle(execution.workflow_id).signal(
                    "control", ControlSignal(action=action)
                )
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        return {}

    @router.post(
        "/project/{project}/stage/{stage}/service/{service}/evaluation", summary="Trigger an evaluation"
    )
    async def trigger_evaluation(request: Request, project: str, stage: str, service: str) -> dict[str, str]:
        cp: ControlPlane = request.app.state.cp
        body = await read_gin_object(request)
        try:
            await cp.projects.get_service(project, stage, service)
        except NotFoundError as exc:
            raise KeptnHTTPError(
                400, f"service {service} not available in stage {stage} of project {project}"
            ) from exc
        start, end = evaluation_window(
            body.get("start"), body.get("end"), body.get("timeframe"), datetime.now(UTC)
        )
        labels = body.get("labels") or {}
        context = str(uuid.uuid4())
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "https://github.com/keptn/keptn/api",
            "type": f"sh.keptn.event.{stage}.evaluation.triggered",
            "time": format_keptn_time(datetime.now(UTC)),
            "contenttype": "application/json",
            "shkeptncontext": keptn_context_from(context),
            "shkeptnspecversion": "0.2.4",
            "data": evaluation_triggered_data(project, stage, service, start, end, labels),
        }
        if body.get("gitcommitid"):
            event["gitcommitid"] = body["gitcommitid"]
        await cp.emitter.emit(event)
        return {"keptnContext": event["shkeptncontext"]}

    return [router]
