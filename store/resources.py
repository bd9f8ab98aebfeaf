"""Versioned resources at project, stage and service level.

Every write (POST/PUT of one or many resources, DELETE) is one commit with a 40-hex commit id. Old versions
stay readable by commit id: reading at commit C returns, per URI, the newest version written at or before C (a
delete is a version too, so a resource deleted at or before C is not found).

URIs are stored without a leading slash (`/a.yaml` and `a.yaml` are the same resource) and returned that way.
`ResourceRecord.commit_id` is the commit the read was made at (the requested one, or the project's newest),
like the `metadata.version` of Keptn's resource-service, so reading again with it gives the same content.
"""

from __future__ import annotations

import builtins

from store.db import Database
from store.errors import NotFoundError
from store.records import ResourceRecord
from store.schema import ResourceVersion
from store.versions import (
    CommitRef,
    Level,
    check_level,
    create_commit,
    list_versions,
    normalize_uri,
    read_version,
    resolve_commit,
    write_versions,
)


def _record(version: ResourceVersion, commit: CommitRef) -> ResourceRecord:
    return ResourceRecord(
        uri=version.uri,
        content=version.content or b"",
        commit_id=commit.id,
        stage=version.stage or None,
        service=version.service or None,
    )


class ResourceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def write(
        self,
        project: str,
        stage: str | None,
        service: str | None,
        resources: builtins.list[tuple[str, bytes]],
    ) -> str:
        """Create or overwrite resources in one commit; returns the commit id.

        Raises NotFoundError("project"|"stage"|"service", name) if the entity does not exist.
        """
        level = Level.of(project, stage, service)
        if not resources:
            raise ValueError("a write needs at least one resource")
        async with self.db.session(write=True) as session:
            await check_level(session, level, lock_project=True)
            commit = await create_commit(session, project)
            await write_versions(session, level, commit, list(resources))
            return commit.id

    async def delete(self, project: str, stage: str | None, service: str | None, uri: str) -> str:
        """Delete one resource (new commit); returns the commit id.

        Raises NotFoundError (entity or "resource")."""
        level = Level.of(project, stage, service)
        async with self.db.session(write=True) as session:
            await check_level(session, level, lock_project=True)
            head = await resolve_commit(session, project, None)
            if head is None or await read_version(session, level, uri, head.seq) is None:
                raise NotFoundError("resource", normalize_uri(uri))
            commit = await create_commit(session, project)
            await write_versions(session, level, commit, [(uri, None)])
            return commit.id

    async def get(
        self, project: str, stage: str | None, service: str | None, uri: str, commit_id: str | None = None
    ) -> ResourceRecord:
        """The current version, or the version as of `commit_id`.

        Raises NotFoundError("project"|"stage"|"service"|"resource"|"commit", ...).
        """
        level = Level.of(project, stage, service)
        async with self.db.session() as session:
            await check_level(session, level)
            commit = await resolve_commit(session, project, commit_id)
            version = None if commit is None else await read_version(session, level, uri, commit.seq)
            if version is None or commit is None:
                raise NotFoundError("resource", normalize_uri(uri))
            return _record(version, commit)

    async def list(
        self,
        project: str,
        stage: str | None,
        service: str | None,
        commit_id: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[builtins.list[ResourceRecord], int]:
        """Resources of exactly that level (not inherited), sorted by URI; (page, total)."""
        level = Level.of(project, stage, service)
        async with self.db.session() as session:
            await check_level(session, level)
            commit = await resolve_commit(session, project, commit_id)
            if commit is None:
                return [], 0
            versions, total = await list_versions(session, level, commit.seq, offset, limit)
            return [_record(v, commit) for v in versions], total

    async def latest_commit(self, project: str) -> str | None:
        """Id of the newest commit of the project (used to pin sequences to a shipyard version).

        None if the project does not exist (or has no commit)."""
        async with self.db.session() as session:
            commit = await resolve_commit(session, project, None)
            return None if commit is None else commit.id
