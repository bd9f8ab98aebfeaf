"""shipyard-controller: projects, stages and services under `/api/controlPlane/v1`.

Texts and statuses follow Keptn 1.4.5 (docs/keptn-api-contract.md §2). Where Keptn answered a client mistake with
a 500 or a malformed body (unknown project on service create/delete, unknown stage, deleting an unknown project) we
answer 404 with the same envelope; docs/decisions.md lists these fixes.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from api.auth import gateway_auth
from api.bodies import read_gin_object
from api.errors import KeptnHTTPError
from api.paging import parse_gin_page
from api.state import ControlPlane
from api.views import parent_stages_of, project_view, service_view, stage_view
from keptn import names
from keptn.errors import KeptnValidationError
from keptn.events import KeptnContextExtendedCE
from keptn.shipyard import Shipyard, ShipyardError, parse_shipyard
from store.errors import AlreadyExistsError, NotFoundError
from store.records import GitSettings

SOURCE = "shipyard-controller"
INVALID = "Could not validate payload: "


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GitProxy(_Model):
    url: str = ""
    scheme: str = ""
    user: str = ""
    password: str = ""


class HttpsCredentials(_Model):
    token: str = ""
    certificate: str = ""
    insecureSkipTLS: bool = False
    proxy: GitProxy | None = None


class SshCredentials(_Model):
    privateKey: str = ""
    privateKeyPass: str = ""


class GitCredentials(_Model):
    remoteURL: str = ""
    user: str = ""
    https: HttpsCredentials | None = None
    ssh: SshCredentials | None = None


class FlatGitFields(_Model):
    """The <=0.16 project body kept its git settings flat; we still accept it."""

    gitRemoteURL: str = ""
    gitUser: str = ""
    gitToken: str = ""
    gitPrivateKey: str = ""
    gitPrivateKeyPass: str = ""
    gitProxyUrl: str = ""
    gitProxyScheme: str = ""
    gitProxyUser: str = ""
    gitProxyPassword: str = ""
    gitPemCertificate: str = ""
    insecureSkipTLS: bool = False

    def nested(self) -> GitCredentials | None:
        if not self.gitRemoteURL:
            return None
        proxy = GitProxy(
            url=self.gitProxyUrl,
            scheme=self.gitProxyScheme,
            user=self.gitProxyUser,
            password=self.gitProxyPassword,
        )
        if self.gitPrivateKey:
            return GitCredentials(
                remoteURL=self.gitRemoteURL,
                user=self.gitUser,
                ssh=SshCredentials(privateKey=self.gitPrivateKey, privateKeyPass=self.gitPrivateKeyPass),
            )
        https = HttpsCredentials(
            token=self.gitToken,
            certificate=self.gitPemCertificate,
            insecureSkipTLS=self.insecureSkipTLS,
            proxy=proxy if proxy.url else None,
        )
        return GitCredentials(remoteURL=self.gitRemoteURL, user=self.gitUser, https=https)


class ProjectParams(FlatGitFields):
    name: str = ""
    shipyard: str = ""
    gitCredentials: GitCredentials | None = None

    def credentials(self) -> GitCredentials | None:
        return self.gitCredentials or self.nested()


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def validate_credentials(c: GitCredentials | None) -> GitSettings | None:
    if c is None:
        return None
    if c.remoteURL and not c.remoteURL.startswith(("https://", "http://", "ssh://")):
        raise KeptnHTTPError(
            400,
            INVALID + "provided gitRemoteURL is not valid: only http, https or ssh protocols "
            "are supported in gitRemoteURL",
        )
    if c.https is not None and c.ssh is not None:
        raise KeptnHTTPError(400, INVALID + "SSH and HTTPS authorization cannot be used together")
    if c.ssh is not None and not _is_base64(c.ssh.privateKey):
        raise KeptnHTTPError(400, INVALID + "could not decode privateKey content")
    if c.https is not None and c.https.certificate and not _is_base64(c.https.certificate):
        raise KeptnHTTPError(400, INVALID + "could not decode PEM Certificate content")
    https = c.https or HttpsCredentials()
    proxy = https.proxy or GitProxy()
    secret = {
        "token": https.token,
        "certificate": https.certificate,
        "proxyPassword": proxy.password,
        "privateKey": c.ssh.privateKey if c.ssh else "",
        "privateKeyPass": c.ssh.privateKeyPass if c.ssh else "",
    }
    return GitSettings(
        remote_url=c.remoteURL,
        user=c.user,
        proxy_url=proxy.url,
        proxy_scheme=proxy.scheme,
        proxy_user=proxy.user,
        insecure_skip_tls=https.insecureSkipTLS,
        secret={k: v for k, v in secret.items() if v},
    )


def decode_shipyard(encoded: str) -> tuple[str, Shipyard]:
    if not encoded:
        raise KeptnHTTPError(400, INVALID + "shipyard must contain a valid shipyard spec encoded in base64")
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise KeptnHTTPError(400, INVALID + "could not decode shipyard content") from exc
    try:
        return text, parse_shipyard(text)
    except ShipyardError as exc:
        raise KeptnHTTPError(400, INVALID + "provided shipyard file is not valid: " + exc.message) from exc


async def parse_params(request: Request) -> ProjectParams:
    body = await read_gin_object(request)
    try:
        return ProjectParams.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "extra_forbidden":
            raise KeptnHTTPError(
                400, f'Invalid request format: json: unknown field "{err["loc"][-1]}"'
            ) from exc
        field = ".".join(str(p) for p in err["loc"])
        raise KeptnHTTPError(400, f"Invalid request format: {field}: {err['msg']}") from exc


def validate_project_name(name: str) -> None:
    try:
        names.validate_project_name(name)
    except KeptnValidationError as exc:
        raise KeptnHTTPError(400, INVALID + exc.message) from exc


def lookup_error(exc: NotFoundError) -> KeptnHTTPError:
    return KeptnHTTPError(404, f"{exc.entity} not found")


def lifecycle_event(event_type: str, data: dict[str, Any], context: str) -> dict[str, Any]:
    ce = KeptnContextExtendedCE(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=SOURCE,
        type=event_type,
        time=datetime.now(UTC),
        contenttype="application/json",
        data=data,
        shkeptncontext=context,
        shkeptnspecversion="0.2.4",
    )
    return ce.to_json_dict()


class Lifecycle:
    """`<entity>.<action>.started` before a change and `.finished` after it, in one new keptnContext."""

    def __init__(self, cp: ControlPlane, entity: str, action: str, data: dict[str, Any]) -> None:
        self.cp, self.prefix, self.data = cp, f"sh.keptn.event.{entity}.{action}", data
        self.context = str(uuid.uuid4())

    async def started(self) -> None:
        await self.cp.emitter.emit(lifecycle_event(f"{self.prefix}.started", self.data, self.context))

    async def finished(self, ok: bool, **extra: Any) -> None:
        data = (
            self.data
            | {"status": "succeeded" if ok else "errored", "result": "pass" if ok else "fail"}
            | extra
        )
        await self.cp.emitter.emit(lifecycle_event(f"{self.prefix}.finished", data, self.context))


def routers() -> list[APIRouter]:
    router = APIRouter(
        prefix="/api/controlPlane/v1", tags=["controlPlane"], dependencies=[Depends(gateway_auth)]
    )

    @router.get("/project", summary="List projects")
    async def list_projects(
        request: Request, pageSize: str | None = None, nextPageKey: str | None = None
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        page = parse_gin_page(pageSize, nextPageKey)
        projects, total = await cp.projects.list_projects(page.offset, page.size)
        return {"projects": [project_view(p) for p in projects], **page.gin_envelope(total)}

    @router.get("/project/{project}", summary="Get a project")
    async def get_project(request: Request, project: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        try:
            return project_view(await cp.projects.get_project(project))
        except NotFoundError as exc:
            raise KeptnHTTPError(404, f"Project not found: {project}") from exc

    @router.post("/project", status_code=201, summary="Create a project")
    async def create_project(request: Request) -> Response:
        cp: ControlPlane = request.app.state.cp
        params = await parse_params(request)
        validate_project_name(params.name)
        text, shipyard = decode_shipyard(params.shipyard)
        git = validate_credentials(params.credentials()) or GitSettings()
        conflict = KeptnHTTPError(409, f"could not create project '{params.name}': project already exists")
        try:
            await cp.projects.get_project(params.name)
            raise conflict  # checked first so a rejected duplicate leaves no trace, not even events
        except NotFoundError:
            pass
        lifecycle = Lifecycle(cp, "project", "create", {"project": params.name})
        await lifecycle.started()
        try:
            await cp.projects.create_project(
                params.name, text, shipyard.api_version, shipyard.stage_names(), git
            )
        except AlreadyExistsError as exc:  # lost a race with a concurrent create
            await lifecycle.finished(False, createdProject={"projectName": "", "shipyard": ""})
            raise conflict from exc
        created = {"projectName": params.name, "shipyard": params.shipyard}
        if git.remote_url:
            created["gitRemoteURL"] = git.remote_url
        await lifecycle.finished(True, createdProject=created)
        return Response(status_code=201)

    @router.put("/project", status_code=201, summary="Update a project")
    async def update_project(request: Request) -> Response:
        cp: ControlPlane = request.app.state.cp
        params = await parse_params(request)
        if not params.name:
            raise KeptnHTTPError(400, INVALID + "project name missing")
        if not names.is_valid_entity_name(params.name):
            raise KeptnHTTPError(400, INVALID + "provided project name is not a valid Keptn entity name")
        git = validate_credentials(params.credentials())
        try:
            current = await cp.projects.get_project(params.name)
        except NotFoundError as exc:
            raise KeptnHTTPError(404, f"Project not found: {params.name}") from exc
        text = version = stages = None
        if params.shipyard:
            text, shipyard = decode_shipyard(params.shipyard)
            if shipyard.stage_names() != [s.name for s in current.stages]:
                raise KeptnHTTPError(400, "stage name cannot be changed or removed")
            version, stages = shipyard.api_version, shipyard.stage_names()
        try:
            await cp.projects.update_project(params.name, text, version, stages, git)
        except NotFoundError as exc:
            raise KeptnHTTPError(404, f"Project not found: {params.name}") from exc
        return Response(status_code=201)

    @router.delete("/project/{project}", summary="Delete a project")
    async def delete_project(request: Request, project: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        try:
            await cp.projects.delete_project(project)
        except NotFoundError as exc:
            raise KeptnHTTPError(404, f"Project not found: {project}") from exc
        await Lifecycle(cp, "project", "delete", {"project": project}).finished(True)
        return {"message": f"Project {project} deleted. Its events stay readable in the datastore."}

    @router.get("/project/{project}/stage", summary="List stages")
    async def list_stages(
        request: Request, project: str, pageSize: str | None = None, nextPageKey: str | None = None
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        page = parse_gin_page(pageSize, nextPageKey)
        try:
            record = await cp.projects.get_project(project)
        except NotFoundError as exc:
            raise lookup_error(exc) from exc
        parents = parent_stages_of(record)
        stages = record.stages[page.offset : page.next_offset]
        return {
            "stages": [stage_view(s, parents.get(s.name, [])) for s in stages],
            **page.gin_envelope(len(record.stages)),
        }

    @router.get("/project/{project}/stage/{stage}", summary="Get a stage")
    async def get_stage(request: Request, project: str, stage: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        try:
            record = await cp.projects.get_project(project)
            found = await cp.projects.get_stage(project, stage)
        except NotFoundError as exc:
            raise lookup_error(exc) from exc
        return stage_view(found, parent_stages_of(record).get(stage, []))

    @router.get("/project/{project}/stage/{stage}/service", summary="List services of a stage")
    async def list_services(
        request: Request,
        project: str,
        stage: str,
        pageSize: str | None = None,
        nextPageKey: str | None = None,
    ) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        page = parse_gin_page(pageSize, nextPageKey)
        try:
            found = await cp.projects.get_stage(project, stage)
        except NotFoundError as exc:
            raise lookup_error(exc) from exc
        services = found.services[page.offset : page.next_offset]
        return {"services": [service_view(s) for s in services], **page.gin_envelope(len(found.services))}

    @router.get("/project/{project}/stage/{stage}/service/{service}", summary="Get a service")
    async def get_service(request: Request, project: str, stage: str, service: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        try:
            return service_view(await cp.projects.get_service(project, stage, service))
        except NotFoundError as exc:
            raise lookup_error(exc) from exc

    @router.post("/project/{project}/service", summary="Create a service in every stage")
    async def create_service(request: Request, project: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        name = (await read_gin_object(request)).get("serviceName")
        if not isinstance(name, str):
            raise KeptnHTTPError(400, "must provide a service name")
        names.validate_service_name(name)
        try:
            record = await cp.projects.get_project(project)
        except NotFoundError as exc:
            raise lookup_error(exc) from exc
        if any(s.name == name for stage in record.stages for s in stage.services):
            raise KeptnHTTPError(409, "service already exists")
        lifecycle = Lifecycle(cp, "service", "create", {"project": project, "service": name})
        await lifecycle.started()
        try:
            await cp.projects.create_service(project, name)
        except (NotFoundError, AlreadyExistsError) as exc:  # lost a race with a concurrent change
            await lifecycle.finished(False, message=str(exc))
            if isinstance(exc, NotFoundError):
                raise lookup_error(exc) from exc
            raise KeptnHTTPError(409, "service already exists") from exc
        await lifecycle.finished(True)
        return {"message": ""}

    @router.delete("/project/{project}/service/{service}", summary="Delete a service from every stage")
    async def delete_service(request: Request, project: str, service: str) -> dict[str, Any]:
        cp: ControlPlane = request.app.state.cp
        try:
            await cp.projects.get_project(project)
        except NotFoundError as exc:
            raise lookup_error(exc) from exc
        lifecycle = Lifecycle(cp, "service", "delete", {"project": project, "service": service})
        await lifecycle.started()
        try:
            await cp.projects.delete_service(project, service)
        except NotFoundError as exc:
            if exc.entity != "service":
                raise lookup_error(exc) from exc
            # Keptn ignores services missing from a stage: deleting twice is not an error.
        await lifecycle.finished(True)
        return {"message": ""}

    return [router]
