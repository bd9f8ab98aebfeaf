"""Versioned resources at project, stage and service level.

Every write (POST/PUT of one or many resources, DELETE) is one commit with a 40-hex commit id. Old versions stay
readable by commit id: reading at commit C returns, per URI, the newest version written at or before C (a delete
is a version too, so a resource deleted at or before C is not found).
"""

from __future__ import annotations

from store.db import Database
from store.records import ResourceRecord


class ResourceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(
        self, project: str, stage: str | None, service: str | None, resources: list[tuple[str, bytes]]
    ) -> str:
        """Create or overwrite resources in one commit; returns the commit id.

        Raises NotFoundError("project"|"stage"|"service", name) if the entity does not exist.
        """
        raise NotImplementedError

    async def delete(self, project: str, stage: str | None, service: str | None, uri: str) -> str:
        """Delete one resource (new commit); returns the commit id. Raises NotFoundError (entity or "resource")."""
        raise NotImplementedError

    async def get(
        self, project: str, stage: str | None, service: str | None, uri: str, commit_id: str | None = None
    ) -> ResourceRecord:
        """The current version, or the version as of `commit_id`.

        Raises NotFoundError("project"|"stage"|"service"|"resource"|"commit", ...).
        """
        raise NotImplementedError

    async def list(
        self,
        project: str,
        stage: str | None,
        service: str | None,
        commit_id: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[list[ResourceRecord], int]:
        """Resources of exactly that level (not inherited), sorted by URI; (page, total)."""
        raise NotImplementedError

    async def latest_commit(self, project: str) -> str | None:
        """Id of the newest commit of the project (used to pin sequences to a shipyard version)."""
        raise NotImplementedError
