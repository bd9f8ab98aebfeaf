"""Store records rendered as Keptn 1.x JSON (ExpandedProject / ExpandedStage / ExpandedService)."""

from __future__ import annotations

from typing import Any

from keptn.events import format_unix_nanos
from keptn.shipyard import parse_shipyard
from store.records import GitSettings, ProjectRecord, ServiceRecord, StageRecord


def service_view(service: ServiceRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "creationDate": format_unix_nanos(service.created_at),
        "openRemediations": None,
        "serviceName": service.name,
    }
    if service.deployed_image:
        out["deployedImage"] = service.deployed_image
    if service.last_event_types:
        out["lastEventTypes"] = service.last_event_types
    return out


def stage_view(stage: StageRecord, parent_stages: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"services": [service_view(s) for s in stage.services], "stageName": stage.name}
    if parent_stages:
        out["parentStages"] = parent_stages
    return out


def parent_stages_of(project: ProjectRecord) -> dict[str, list[str]]:
    shipyard = parse_shipyard(project.shipyard)
    return {name: shipyard.parent_stages(name) for name in shipyard.stage_names()}


def git_credentials_view(git: GitSettings) -> dict[str, Any]:
    """The "secure" form Keptn returns: never a token, key, certificate or proxy password."""
    out: dict[str, Any] = {"remoteURL": git.remote_url}
    if git.user:
        out["user"] = git.user
    if "privateKey" not in git.secret:
        https: dict[str, Any] = {"insecureSkipTLS": git.insecure_skip_tls}
        if git.proxy_url:
            proxy = {"url": git.proxy_url, "scheme": git.proxy_scheme}
            if git.proxy_user:
                proxy["user"] = git.proxy_user
            https["proxy"] = proxy
        out["https"] = https
    return out


def project_view(project: ProjectRecord) -> dict[str, Any]:
    parents = parent_stages_of(project)
    out: dict[str, Any] = {
        "creationDate": format_unix_nanos(project.created_at),
        "projectName": project.name,
        "shipyard": project.shipyard,
        "shipyardVersion": project.shipyard_version,
        "stages": [stage_view(s, parents.get(s.name, [])) for s in project.stages],
        "isUpstreamAutoProvisioned": not project.git.remote_url,
    }
    if project.git.remote_url or project.git.user:
        out["gitCredentials"] = git_credentials_view(project.git)
    return out
