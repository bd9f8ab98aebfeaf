"""secret-service: `/api/secrets/v1/scope` and `/secret`; values are encrypted at rest and never listed."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from api.auth import gateway_auth
from api.bodies import read_gin_object
from api.errors import KeptnHTTPError
from api.state import ControlPlane
from store.errors import AlreadyExistsError, NotFoundError

DEFAULT_SCOPE = "keptn-default"
# The scopes Keptn's chart defines (secret-service-config); each maps to the integrations allowed to read it.
SCOPES = ["dynatrace-service", "keptn-default", "keptn-prometheus-service", "keptn-webhook-service"]
# Secrets were Kubernetes Secrets in Keptn, so names follow DNS-1123 subdomain rules. Keptn let Kubernetes
# reject bad names with a 500; we answer 400 before storing anything.
SECRET_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_LEN = 253


def _required(field: str, model: str = "Secret.SecretMetadata") -> KeptnHTTPError:
    return KeptnHTTPError(
        400,
        f"Invalid request format: Key: '{model}.{field}' Error:Field validation for '{field}' failed on the "
        "'required' tag",
    )


def _secret_body(
    body: dict[str, Any], action: str, default_scope: str | None
) -> tuple[str, str, dict[str, str]]:
    name = body.get("name")
    scope = body.get("scope") or default_scope or ""
    data = body.get("data") or {}
    if not isinstance(name, str) or not name:
        raise _required("Name")
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise KeptnHTTPError(400, "Invalid request format: data must map strings to strings")
    if scope not in SCOPES:
        raise KeptnHTTPError(
            400,
            f"Unable to {action} secret: unable to check defined scope {scope} for secret {name}: scope not found",
        )
    if len(name) > MAX_LEN or any(len(k) > MAX_LEN for k in data):
        raise KeptnHTTPError(
            400, f"Unable to {action} secret: name and key values must be no more than 253 characters"
        )
    if not SECRET_NAME_RE.match(name):
        raise KeptnHTTPError(
            400,
            f"Unable to {action} secret: invalid secret name {name!r}: it must be a lower case "
            "RFC 1123 subdomain",
        )
    return name, scope, data


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/secrets/v1", tags=["secrets"], dependencies=[Depends(gateway_auth)])

    @router.get("/scope", summary="List secret scopes")
    async def scopes() -> dict[str, list[str]]:
        return {"scopes": SCOPES}

    @router.get("/secret", summary="List secrets (names, scopes and keys only)")
    async def list_secrets(
        request: Request, name: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        secrets = [
            {"name": s.name, "scope": s.scope, "keys": s.keys}
            for s in await cp.secrets.list()
            if (not name or s.name == name) and (not scope or s.scope == scope)
        ]
        return {"Secrets": secrets}

    @router.post("/secret", summary="Create a secret")
    async def create_secret(request: Request) -> JSONResponse:
        cp: ControlPlane = request.app.state.cp
        name, scope, data = _secret_body(await read_gin_object(request), "create", DEFAULT_SCOPE)
        try:
            await cp.secrets.create(name, scope, data)
        except AlreadyExistsError as exc:
            raise KeptnHTTPError(409, "Unable to create secret: secret already exists") from exc
        return JSONResponse(status_code=201, content={"name": name, "scope": scope, "data": data})

    @router.put("/secret", summary="Update a secret")
    async def update_secret(request: Request) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        # Keptn does not default the scope on update.
        name, scope, data = _secret_body(await read_gin_object(request), "update", None)
        try:
            await cp.secrets.update(name, scope, data)
        except NotFoundError as exc:
            raise KeptnHTTPError(404, "Unable to update secret: secret not found") from exc
        return {"name": name, "scope": scope, "data": data}

    @router.delete("/secret", summary="Delete a secret")
    async def delete_secret(request: Request, name: str | None = None, scope: str | None = None) -> Response:
        cp: ControlPlane = request.app.state.cp
        if not name:
            raise _required("Name", "DeleteSecretQueryParams")
        if not scope:
            raise _required("Scope", "DeleteSecretQueryParams")
        if scope not in SCOPES:
            raise KeptnHTTPError(
                400,
                f"Unable to delete secret: unable to check defined scope {scope} for secret {name}: scope not found",
            )
        try:
            await cp.secrets.delete(name, scope)
        except NotFoundError as exc:
            raise KeptnHTTPError(
                404,
                f"Unable to delete secret: could not delete secret {name} in scope {scope}: secret not found",
            ) from exc
        return Response(status_code=200)

    return [router]
