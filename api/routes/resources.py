"""Resources at project, stage and service level, served under both Keptn paths:

`/api/resource-service/v1/...` (0.16+) and `/api/configuration-service/v1/...` (<=0.17), so integrations of either
era keep reading `slo.yaml` & co. The two differ in statuses, texts and what a list item carries
(docs/keptn-api-contract.md §3); `Flavor` holds those differences, the handlers are shared.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from api.auth import gateway_auth
from api.bodies import read_gin_object
from api.errors import KeptnHTTPError
from api.paging import parse_gin_page, parse_swagger_page
from api.state import ControlPlane
from store.errors import NotFoundError
from store.records import ResourceRecord


@dataclass(frozen=True)
class Level:
    project: str
    stage: str | None = None
    service: str | None = None

    @property
    def kind(self) -> str:
        return "Service" if self.service else "Stage" if self.stage else "Project"


@dataclass(frozen=True)
class Flavor:
    prefix: str
    create_status: int
    update_status: int
    delete_status: int
    version: Callable[[Level, str], dict[str, Any]]  # what a write returns, and a read's metadata
    list_item: Callable[[ResourceRecord, Level], dict[str, Any]]
    not_found: Callable[[NotFoundError, Level, bool], KeptnHTTPError]
    page: Callable[[str | None, str | None], Any]


def _rs_version(level: Level, commit: str) -> dict[str, Any]:
    return {"upstreamURL": "", "version": commit}


def _cs_version(level: Level, commit: str) -> dict[str, Any]:
    return {"branch": level.stage or "master", "upstreamURL": "", "version": commit}


def _rs_not_found(exc: NotFoundError, level: Level, write: bool) -> KeptnHTTPError:
    texts = {
        # Keptn's zero-downtime probe asserts this exact text for an unknown project.
        "project": "Could not find credentials for upstream repository",
        "stage": "Stage not found",
        "service": "Service not found",
    }
    return KeptnHTTPError(404, texts.get(exc.entity, "Resource not found"))


def _cs_not_found(exc: NotFoundError, level: Level, write: bool) -> KeptnHTTPError:
    # configuration-service answered 400 "... does not exist" to writes, 404 "... not found" to reads.
    if exc.entity in ("project", "stage", "service"):
        entity = exc.entity.capitalize()
        return (
            KeptnHTTPError(400, f"{entity} does not exist")
            if write
            else KeptnHTTPError(404, f"{entity} not found")
        )
    return KeptnHTTPError(404, f"{level.kind} resource not found")


RESOURCE_SERVICE = Flavor(
    prefix="/api/resource-service/v1",
    create_status=201,
    update_status=200,
    delete_status=200,
    version=_rs_version,
    list_item=lambda r, level: {"resourceURI": r.uri, "metadata": _rs_version(level, r.commit_id)},
    not_found=_rs_not_found,
    page=lambda size, key: parse_gin_page(size, key),
)
CONFIGURATION_SERVICE = Flavor(
    prefix="/api/configuration-service/v1",
    create_status=201,
    update_status=201,
    delete_status=204,
    version=_cs_version,
    list_item=lambda r, level: {"resourceURI": r.uri},
    not_found=_cs_not_found,
    page=lambda size, key: parse_swagger_page(size, key, maximum=50),
)


def resource_uri(raw: str) -> str:
    # Clients escape the URI (the Go CLI twice) so that "/" survives routing; the router decoded once already.
    uri = unquote(raw).lstrip("/")
    if not uri or "~" in uri or ".." in uri:
        raise KeptnHTTPError(400, "invalid resource uri")
    return uri


def decode_content(encoded: Any) -> bytes:
    if not isinstance(encoded, str):
        raise KeptnHTTPError(400, "Invalid request format")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeptnHTTPError(400, "resource content is not base64 encoded") from exc


def parse_resources(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    items = body.get("resources")
    if not isinstance(items, list) or not items:
        raise KeptnHTTPError(400, "Invalid request format")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("resourceURI"), str):
            raise KeptnHTTPError(400, "Invalid request format")
        out.append((resource_uri(item["resourceURI"]), decode_content(item.get("resourceContent", ""))))
    return out


def _add_routes(router: APIRouter, flavor: Flavor, path: str, level_of: Callable[..., Level]) -> None:
    """Registers the six resource operations of one level; `level_of` receives the path parameters."""

    def cp_of(request: Request) -> ControlPlane:
        return request.app.state.cp

    def written(level: Level, commit: str, status: int) -> Response:
        if status == 204:
            return Response(status_code=204)
        body = flavor.version(level, commit)
        if flavor is RESOURCE_SERVICE:
            body = {"commitID": commit, "metadata": body}
        return JSONResponse(status_code=status, content=body)

    async def list_resources(
        request: Request,
        gitCommitID: str | None = None,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        level = level_of(**request.path_params)
        page = flavor.page(pageSize, nextPageKey)
        try:
            records, total = await cp_of(request).resources.list(
                level.project, level.stage, level.service, gitCommitID or None, page.offset, page.size
            )
        except NotFoundError as exc:
            raise flavor.not_found(exc, level, False) from exc
        return {"resources": [flavor.list_item(r, level) for r in records], **page.gin_envelope(total)}

    async def write_many(request: Request, status: int) -> Response:
        level = level_of(**request.path_params)
        resources = parse_resources(await read_gin_object(request))
        try:
            commit = await cp_of(request).resources.write(
                level.project, level.stage, level.service, resources
            )
        except NotFoundError as exc:
            raise flavor.not_found(exc, level, True) from exc
        return written(level, commit, status)

    async def create_resources(request: Request) -> Response:
        return await write_many(request, flavor.create_status)

    async def update_resources(request: Request) -> Response:
        return await write_many(request, flavor.update_status)

    async def get_resource(request: Request, gitCommitID: str | None = None) -> dict[str, Any]:
        params = dict(request.path_params)
        uri = resource_uri(params.pop("resourceURI"))
        level = level_of(**params)
        try:
            record = await cp_of(request).resources.get(
                level.project, level.stage, level.service, uri, gitCommitID or None
            )
        except NotFoundError as exc:
            raise flavor.not_found(exc, level, False) from exc
        return {
            "resourceURI": record.uri,
            "resourceContent": base64.b64encode(record.content).decode(),
            "metadata": flavor.version(level, record.commit_id),
        }

    async def put_resource(request: Request) -> Response:
        params = dict(request.path_params)
        uri = resource_uri(params.pop("resourceURI"))
        level = level_of(**params)
        body = await read_gin_object(request)
        content = decode_content(body.get("resourceContent", ""))
        try:
            commit = await cp_of(request).resources.write(
                level.project, level.stage, level.service, [(uri, content)]
            )
        except NotFoundError as exc:
            raise flavor.not_found(exc, level, True) from exc
        return written(level, commit, flavor.update_status)

    async def delete_resource(request: Request) -> Response:
        params = dict(request.path_params)
        uri = resource_uri(params.pop("resourceURI"))
        level = level_of(**params)
        try:
            commit = await cp_of(request).resources.delete(level.project, level.stage, level.service, uri)
        except NotFoundError as exc:
            raise flavor.not_found(exc, level, exc.entity != "resource") from exc
        return written(level, commit, flavor.delete_status)

    base = f"{flavor.prefix}{path}/resource"
    one = base + "/{resourceURI:path}"
    router.add_api_route(base, list_resources, methods=["GET"], summary="List resources")
    router.add_api_route(base, create_resources, methods=["POST"], summary="Create resources")
    router.add_api_route(base, update_resources, methods=["PUT"], summary="Update resources")
    router.add_api_route(one, get_resource, methods=["GET"], summary="Get a resource")
    router.add_api_route(one, put_resource, methods=["PUT"], summary="Create or update a resource")
    router.add_api_route(one, delete_resource, methods=["DELETE"], summary="Delete a resource")


LEVELS: list[tuple[str, Callable[..., Level]]] = [
    ("/project/{project}", lambda project: Level(project)),
    ("/project/{project}/stage/{stage}", lambda project, stage: Level(project, stage)),
    (
        "/project/{project}/stage/{stage}/service/{service}",
        lambda project, stage, service: Level(project, stage, service),
    ),
]


def routers() -> list[APIRouter]:
    out = []
    for flavor in (RESOURCE_SERVICE, CONFIGURATION_SERVICE):
        router = APIRouter(tags=[flavor.prefix.split("/")[2]], dependencies=[Depends(gateway_auth)])
        for path, level_of in LEVELS:
            _add_routes(router, flavor, path, level_of)
        out.append(router)
    return out
