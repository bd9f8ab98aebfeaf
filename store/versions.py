"""Commit and resource-version primitives that run inside a caller's session.

Shared by ResourceRepository and ProjectRepository (which writes shipyard.yaml in its own transaction).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import NotFoundError
from store.schema import Commit, Project, ResourceVersion, Service, Stage, utcnow


@dataclass(frozen=True)
class Level:
    """Where a resource lives; "" stands for "none" so that the unique key has no NULLs."""

    project: str
    stage: str = ""
    service: str = ""

    @classmethod
    def of(cls, project: str, stage: str | None, service: str | None) -> Level:
        if service and not stage:
            raise ValueError("a service-level resource needs a stage")
        return cls(project, stage or "", service or "")


@dataclass(frozen=True)
class CommitRef:
    seq: int
    id: str


def normalize_uri(uri: str) -> str:
    """`/a/b.yaml` and `a/b.yaml` name the same file (as in Keptn's git-backed store)."""
    normalized = uri.strip().lstrip("/")
    if not normalized:
        raise ValueError("resource URI must not be empty")
    return normalized


def new_commit_id() -> str:
    # 40 hex like a git SHA-1; random, so ids from concurrent writers never collide in practice (and the
    # unique constraint would reject the astronomically unlikely collision).
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


async def check_level(session: AsyncSession, level: Level, *, lock_project: bool = False) -> None:
    """Raise NotFoundError for the first missing entity of the level.

    `lock_project` takes a row lock on the project (PostgreSQL; SQLite writers are serialised anyway) so that
    commits of one project are assigned and committed in the same order — otherwise a reader could see commit
    N+1 before N and "as of commit N+1" would change once N lands. FOR NO KEY UPDATE does not block inserts of
    rows that merely reference the project.
    """
    q = select(Project.name).where(Project.name == level.project)
    if lock_project:
        q = q.with_for_update(key_share=True)
    if (await session.execute(q)).first() is None:
        raise NotFoundError("project", level.project)
    if level.stage:
        q = select(Stage.name).where(Stage.project == level.project, Stage.name == level.stage)
        if (await session.execute(q)).first() is None:
            raise NotFoundError("stage", level.stage)
    if level.service:
        q = select(Service.name).where(
            Service.project == level.project, Service.stage == level.stage, Service.name == level.service
        )
        if (await session.execute(q)).first() is None:
            raise NotFoundError("service", level.service)


async def create_commit(session: AsyncSession, project: str) -> CommitRef:
    """Insert a commit; the database assigns the sequence number (no max()+1 race)."""
    commit = Commit(id=new_commit_id(), project=project, created_at=utcnow())
    session.add(commit)
    await session.flush()
    return CommitRef(commit.seq, commit.id)


async def write_versions(
    session: AsyncSession, level: Level, commit: CommitRef, resources: list[tuple[str, bytes | None]]
) -> None:
    """Add one version per URI (content None = tombstone); a URI repeated in one write keeps its last."""
    by_uri = {normalize_uri(uri): content for uri, content in resources}
    session.add_all(
        ResourceVersion(
            project=level.project,
            stage=level.stage,
            service=level.service,
            uri=uri,
            commit_seq=commit.seq,
            content=content,
            deleted=content is None,
        )
        for uri, content in by_uri.items()
    )
    await session.flush()


async def resolve_commit(session: AsyncSession, project: str, commit_id: str | None) -> CommitRef | None:
    """The given commit of the project, or its newest one (None if the project has no commit)."""
    if commit_id is not None:
        row = (
            await session.execute(
                select(Commit.seq, Commit.id).where(Commit.id == commit_id, Commit.project == project)
            )
        ).first()
        if row is None:
            raise NotFoundError("commit", commit_id)
        return CommitRef(row.seq, row.id)
    row = (
        await session.execute(
            select(Commit.seq, Commit.id)
            .where(Commit.project == project)
            .order_by(Commit.seq.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else CommitRef(row.seq, row.id)


def _level_filter(level: Level) -> list[ColumnElement[bool]]:
    return [
        ResourceVersion.project == level.project,
        ResourceVersion.stage == level.stage,
        ResourceVersion.service == level.service,
    ]


async def read_version(session: AsyncSession, level: Level, uri: str, at_seq: int) -> ResourceVersion | None:
    """The newest version of `uri` at or before `at_seq`, or None if it never existed or was deleted."""
    q = (
        select(ResourceVersion)
        .where(
            *_level_filter(level),
            ResourceVersion.uri == normalize_uri(uri),
            ResourceVersion.commit_seq <= at_seq,
        )
        .order_by(ResourceVersion.commit_seq.desc())
        .limit(1)
    )
    version = (await session.execute(q)).scalar_one_or_none()
    return None if version is None or version.deleted else version


async def list_versions(
    session: AsyncSession, level: Level, at_seq: int, offset: int, limit: int
) -> tuple[list[ResourceVersion], int]:
    """Live resources of exactly this level as of `at_seq`, sorted by URI; (page, total)."""
    newest = (
        select(ResourceVersion.uri, func.max(ResourceVersion.commit_seq).label("seq"))
        .where(*_level_filter(level), ResourceVersion.commit_seq <= at_seq)
        .group_by(ResourceVersion.uri)
        .subquery()
    )
    live = (
        select(ResourceVersion)
        .join(newest, and_(ResourceVersion.uri == newest.c.uri, ResourceVersion.commit_seq == newest.c.seq))
        .where(*_level_filter(level), ResourceVersion.deleted.is_(False))
    )
    total = (await session.execute(select(func.count()).select_from(live.subquery()))).scalar_one()
    page = (await session.execute(live.order_by(ResourceVersion.uri).offset(offset).limit(limit))).scalars()
    return list(page), total
