"""Projects, stages and services."""

from __future__ import annotations

from store.db import Database
from store.records import GitSettings, ProjectRecord, ServiceRecord, StageRecord


class ProjectRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_project(
        self, name: str, shipyard_yaml: str, shipyard_version: str, stage_names: list[str], git: GitSettings
    ) -> str:
        """Create project + stages and write `shipyard.yaml` as a project-level resource in the same transaction.

        Returns the commit id of the shipyard write. Raises AlreadyExistsError("project", name).
        """
        raise NotImplementedError

    async def update_project(
        self,
        name: str,
        shipyard_yaml: str | None,
        shipyard_version: str | None,
        stage_names: list[str] | None,
        git: GitSettings | None,
    ) -> str | None:
        """Update git settings and/or the shipyard (new shipyard.yaml version; stages added, never removed).

        Returns the new commit id if the shipyard changed. Raises NotFoundError("project", name).
        """
        raise NotImplementedError

    async def delete_project(self, name: str) -> None:
        """Delete the project with its stages, services, resources (events stay). Raises NotFoundError."""
        raise NotImplementedError

    async def get_project(self, name: str) -> ProjectRecord:
        """Raises NotFoundError("project", name)."""
        raise NotImplementedError

    async def list_projects(self, offset: int, limit: int) -> tuple[list[ProjectRecord], int]:
        """Projects ordered by creation time; returns (page, total count)."""
        raise NotImplementedError

    async def get_stage(self, project: str, stage: str) -> StageRecord:
        """Raises NotFoundError("project"|"stage", ...)."""
        raise NotImplementedError

    async def create_service(self, project: str, service: str) -> None:
        """Create the service in every stage of the project.

        Raises NotFoundError("project", ...), AlreadyExistsError("service", service).
        """
        raise NotImplementedError

    async def delete_service(self, project: str, service: str) -> None:
        """Delete the service from every stage (and its service-level resources). Raises NotFoundError."""
        raise NotImplementedError

    async def get_service(self, project: str, stage: str, service: str) -> ServiceRecord:
        """Raises NotFoundError("project"|"stage"|"service", ...)."""
        raise NotImplementedError

    async def record_service_event(
        self, project: str, stage: str, service: str, event_type: str, event_id: str, keptn_context: str, time: str
    ) -> None:
        """Keep `lastEventTypes` current (used by the sequence engine). Unknown entities are ignored."""
        raise NotImplementedError
