"""shipyard-controller: uniform integrations, their subscriptions and logs under `/api/controlPlane/v1`.

Statuses and texts follow Keptn 1.4.5 (`uniformintegrationhandler.go`, `loghandler.go`). Where Keptn answered
a client mistake with a 500 (PUT/DELETE of a subscription of an unknown integration) or a 404 (an unreadable
`fromTime`/`beforeTime` on GET /log) we answer 404 and 400 respectively. DELETE /log is refused with 403, as
Keptn's gateway did.

Every change of an integration's subscriptions also updates the integration's durable JetStream consumer
(eventbus/integrations.py), best effort.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.auth import gateway_auth
from api.errors import KeptnHTTPError
from api.paging import parse_unbounded_page
from api.state import ControlPlane
from eventbus.integrations import sync_integration_consumer
from keptn.events import parse_keptn_time
from store.uniform import UniformValidationError

log = logging.getLogger(__name__)

PREFIX = "/api/controlPlane/v1"
# Keptn's texts: mongo.ErrNoDocuments for subscriptions of unknown integrations, its own for ping.
NO_DOCUMENTS = "mongo: no documents in result"
INTEGRATION_NOT_FOUND = "uniform integration not found"

_GO_TYPES = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def _cp(request: Request) -> ControlPlane:
    return request.app.state.cp


def _go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), "value")


def _unmarshal_error(value: Any, struct: str, field: str, go_type: str) -> KeptnHTTPError:
    where = f"Go struct field {struct}.{field}" if field else "Go value"
    return KeptnHTTPError(400, f"json: cannot unmarshal {_go_type(value)} into {where} of type {go_type}")


async def read_bound_json(request: Request, go_type: str) -> dict[str, Any]:
    """gin `ShouldBindJSON` as these handlers used it: the bind error text is the whole message."""
    raw = await request.body()
    if not raw.strip():
        raise KeptnHTTPError(400, "EOF")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeptnHTTPError(400, f"invalid character in JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise _unmarshal_error(body, "", "", go_type)
    return body


def _check_strings(obj: dict[str, Any], struct: str, fields: tuple[str, ...]) -> None:
    for name in fields:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise _unmarshal_error(value, struct, name, "string")


def check_subscription(sub: Any, struct: str = "EventSubscription") -> None:
    if not isinstance(sub, dict):
        raise _unmarshal_error(sub, "Integration", "subscriptions", "models.EventSubscription")
    _check_strings(sub, struct, ("id", "event"))
    flt = sub.get("filter")
    if flt is None:
        return
    if not isinstance(flt, dict):
        raise _unmarshal_error(flt, struct, "filter", "models.EventSubscriptionFilter")
    for key in ("projects", "stages", "services"):
        values = flt.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            raise _unmarshal_error(values, struct, f"filter.{key}", "[]string")
        for item in values:
            if not isinstance(item, str):
                raise _unmarshal_error(item, struct, f"filter.{key}", "string")


def check_integration(body: dict[str, Any]) -> None:
    _check_strings(body, "Integration", ("id", "name"))
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _unmarshal_error(metadata, "Integration", "metadata", "models.MetaData")
        _check_strings(
            metadata, "Integration", ("hostname", "integrationversion", "distributorversion", "location")
        )
        k8s = metadata.get("kubernetesmetadata")
        if k8s is not None:
            if not isinstance(k8s, dict):
                raise _unmarshal_error(
                    k8s, "Integration", "metadata.kubernetesmetadata", "models.KubernetesMetaData"
                )
            _check_strings(k8s, "Integration", ("namespace", "podname", "deploymentname"))
    subscriptions = body.get("subscriptions")
    if subscriptions is not None:
        if not isinstance(subscriptions, list):
            raise _unmarshal_error(
                subscriptions, "Integration", "subscriptions", "[]models.EventSubscription"
            )
        for sub in subscriptions:
            check_subscription(sub, "Integration")


async def sync_consumer(request: Request, integration_id: str) -> None:
    """Bring the integration's durable JetStream consumer in line with its subscriptions (best effort)."""
    nc = getattr(request.app.state, "nats", None)
    if nc is None or not nc.is_connected:
        log.warning("NATS not connected; the consumer of integration %s is updated later", integration_id)
        return
    try:
        integration = await _cp(request).integrations.get(integration_id)
    except Exception:
        log.warning("could not read integration %s", integration_id, exc_info=True)
        return
    if integration is None:
        return
    cp: ControlPlane = request.app.state.cp
    await sync_integration_consumer(
        nc, cp.settings.stream_name, integration["name"], integration["subscriptions"]
    )


def parse_log_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_keptn_time(value)
    except ValueError as exc:
        raise KeptnHTTPError(
            400, f"Unable to retrieve logs: could not parse provided {name} {value}: {exc}"
        ) from exc


def routers() -> list[APIRouter]:
    router = APIRouter(prefix=PREFIX, tags=["Uniform"], dependencies=[Depends(gateway_auth)])

    @router.get("/uniform/registration", summary="List uniform integrations")
    async def list_registrations(
        request: Request,
        id: str | None = None,  # Keptn's query parameter name
        name: str | None = None,
        namespace: str | None = None,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
    ) -> list[dict[str, Any]]:
        return await _cp(request).integrations.list(
            id=id, name=name, namespace=namespace, project=project, stage=stage, service=service
        )

    @router.post("/uniform/registration", summary="Register a uniform integration")
    async def register(request: Request) -> JSONResponse:
        body = await read_bound_json(request, "models.Integration")
        check_integration(body)
        try:
            integration_id, created = await _cp(request).integrations.register(body)
        except UniformValidationError as exc:
            raise KeptnHTTPError(400, exc.message) from exc
        await sync_consumer(request, integration_id)
        return JSONResponse(status_code=201 if created else 200, content={"id": integration_id})

    @router.delete("/uniform/registration/{integration_id}", summary="Unregister a uniform integration")
    async def unregister(request: Request, integration_id: str) -> dict[str, Any]:
        # Keptn answered 200 for unknown ids too. The durable consumer stays: a re-registering executor
        # continues where it stopped.
        await _cp(request).integrations.delete(integration_id)
        return {}

    @router.put("/uniform/registration/{integration_id}/ping", summary="Heartbeat of an integration")
    async def ping(request: Request, integration_id: str) -> dict[str, Any]:
        integration = await _cp(request).integrations.ping(integration_id)
        if integration is None:
            raise KeptnHTTPError(404, INTEGRATION_NOT_FOUND)
        return integration

    @router.get("/uniform/registration/{integration_id}/subscription", summary="List subscriptions")
    async def list_subscriptions(request: Request, integration_id: str) -> list[dict[str, Any]]:
        subscriptions = await _cp(request).integrations.get_subscriptions(integration_id)
        if subscriptions is None:
            raise KeptnHTTPError(404, NO_DOCUMENTS)
        return subscriptions

    @router.post(
        "/uniform/registration/{integration_id}/subscription",
        status_code=201,
        summary="Create a subscription",
    )
    async def create_subscription(request: Request, integration_id: str) -> dict[str, Any]:
        body = await read_bound_json(request, "models.EventSubscription")
        check_subscription(body)
        try:
            subscription_id = await _cp(request).integrations.create_subscription(integration_id, body)
        except UniformValidationError as exc:
            raise KeptnHTTPError(400, exc.message) from exc
        if subscription_id is None:
            raise KeptnHTTPError(404, NO_DOCUMENTS)
        await sync_consumer(request, integration_id)
        return {"id": subscription_id}

    @router.get(
        "/uniform/registration/{integration_id}/subscription/{subscription_id}", summary="Get a subscription"
    )
    async def get_subscription(request: Request, integration_id: str, subscription_id: str) -> dict[str, Any]:
        subscription = await _cp(request).integrations.get_subscription(integration_id, subscription_id)
        if subscription is None:
            raise KeptnHTTPError(404, NO_DOCUMENTS)
        return subscription

    @router.put(
        "/uniform/registration/{integration_id}/subscription/{subscription_id}",
        status_code=201,
        summary="Update or create a subscription",
    )
    async def update_subscription(
        request: Request, integration_id: str, subscription_id: str
    ) -> dict[str, Any]:
        body = await read_bound_json(request, "models.EventSubscription")
        check_subscription(body)
        try:
            found = await _cp(request).integrations.update_subscription(integration_id, subscription_id, body)
        except UniformValidationError as exc:
            raise KeptnHTTPError(400, exc.message) from exc
        if not found:
            raise KeptnHTTPError(404, NO_DOCUMENTS)
        await sync_consumer(request, integration_id)
        return {"id": subscription_id}

    @router.delete(
        "/uniform/registration/{integration_id}/subscription/{subscription_id}",
        summary="Delete a subscription",
    )
    async def delete_subscription(
        request: Request, integration_id: str, subscription_id: str
    ) -> dict[str, Any]:
        if not await _cp(request).integrations.delete_subscription(integration_id, subscription_id):
            raise KeptnHTTPError(404, NO_DOCUMENTS)
        await sync_consumer(request, integration_id)
        return {}

    @router.post("/log", summary="Store error logs of integrations")
    async def create_logs(request: Request) -> dict[str, Any]:
        body = await read_bound_json(request, "models.CreateLogsRequest")
        entries = body.get("logs")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise _unmarshal_error(entries, "CreateLogsRequest", "logs", "[]models.LogEntry")
        for entry in entries:
            if not isinstance(entry, dict):
                raise _unmarshal_error(entry, "CreateLogsRequest", "logs", "models.LogEntry")
            _check_strings(
                entry,
                "LogEntry",
                ("integrationid", "message", "time", "shkeptncontext", "task", "triggeredid"),
            )
            if entry.get("time"):
                try:
                    parse_keptn_time(entry["time"])
                except ValueError as exc:
                    raise KeptnHTTPError(400, f'parsing time "{entry["time"]}": {exc}') from exc
        if entries:
            await _cp(request).logs.add(entries)
        return {}

    @router.get("/log", summary="Get error logs of integrations")
    async def get_logs(
        request: Request,
        integrationId: str | None = None,
        fromTime: str | None = None,
        beforeTime: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        page = parse_unbounded_page(pageSize, nextPageKey)
        entries, total = await _cp(request).logs.list(
            integration_id=integrationId or None,
            from_time=parse_log_time(fromTime, "fromTime"),
            before_time=parse_log_time(beforeTime, "beforeTime"),
            offset=page.offset,
            limit=page.limit,
        )
        return {**page.envelope(total), "logs": entries}

    @router.delete("/log", summary="Not available (Keptn's gateway refused it)")
    async def delete_logs() -> None:
        raise KeptnHTTPError(403, "Forbidden")

    return [router]
