"""Projects, stages and services."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.crypto import SecretCipher
from store.db import Database
from store.errors import AlreadyExistsError, NotFoundError
from store.records import GitSettings, ProjectRecord, ServiceRecord, StageRecord
from store.schema import Project, ResourceVersion, Service, ServiceLastEvent, Stage, utcnow
from store.sql import upsert_insert
from store.versions import Level, create_commit, read_version, resolve_commit, write_versions

log = logging.getLogger(__name__)

SHIPYARD_URI = "shipyard.yaml"


class ProjectRepository:
    def __init__(self, db: Database, secret_key: str | None = None) -> None:
        """`secret_key` (optional addition): Fernet key for the git credentials. Without it they are not kept
        (a warning is logged) — they are write-only anyway and never stored in plain text."""
        self.db = db
        self._cipher = SecretCipher(secret_key) if secret_key else None

    async def create_project(
        self, name: str, shipyard_yaml: str, shipyard_version: str, stage_names: list[str], git: GitSettings
    ) -> str:
        """Create project + stages and write `shipyard.yaml` as a project-level resource in the same
        transaction.

        Returns the commit id of the shipyard write. Raises AlreadyExistsError("project", name).
        """
        try:
            async with self.db.session(write=True) as session:
                project = Project(name=name, shipyard_version=shipyard_version, created_at=utcnow())
                self._apply_git(project, git)
                session.add(project)
                # Flush now so that a duplicate fails here, before stages reference the project.
                await session.flush()
                await self._add_stages(session, name, stage_names, first_position=0)
                commit = await create_commit(session, name)
                await write_versions(session, Level(name), commit, [(SHIPYARD_URI, shipyard_yaml.encode())])
                return commit.id
        except IntegrityError as exc:
            # Two replicas creating the same project: the primary key decides, the loser gets a clean 409.
            raise AlreadyExistsError("project", name) from exc

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
        New stages get every service the project already has (services exist in every stage). An empty
        `git.secret` keeps the stored credentials.
        """
        async with self.db.session(write=True) as session:
            # Row lock: serialises with resource writes so commit order matches sequence order.
            q = select(Project).where(Project.name == name).with_for_update(key_share=True)
            project = (await session.execute(q)).scalar_one_or_none()
            if project is None:
                raise NotFoundError("project", name)
            if git is not None:
                self._apply_git(project, git)
            if shipyard_version is not None:
                project.shipyard_version = shipyard_version
            if stage_names is not None:
                await self._add_missing_stages(session, name, stage_names)
            if shipyard_yaml is None:
                return None
            head = await resolve_commit(session, name, None)
            current = (
                None if head is None else await read_version(session, Level(name), SHIPYARD_URI, head.seq)
            )
            if current is not None and current.content == shipyard_yaml.encode():
                return None
            commit = await create_commit(session, name)
            await write_versions(session, Level(name), commit, [(SHIPYARD_URI, shipyard_yaml.encode())])
            return commit.id

    async def delete_project(self, name: str) -> None:
        """Delete the project with its stages, services, resources (events stay). Raises NotFoundError."""
        async with self.db.session(write=True) as session:
            # Stages, services, commits and resource versions go with it through ON DELETE CASCADE.
            result = await session.execute(delete(Project).where(Project.name == name))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError("project", name)

    async def get_project(self, name: str) -> ProjectRecord:
        """Raises NotFoundError("project", name)."""
        async with self.db.session() as session:
            project = await session.get(Project, name)
            if project is None:
                raise NotFoundError("project", name)
            return (await self._records(session, [project]))[0]

    async def list_projects(self, offset: int, limit: int) -> tuple[list[ProjectRecord], int]:
        """Projects ordered by name, as Keptn pages them; returns (page, total count)."""
        async with self.db.session() as session:
            total = (await session.execute(select(func.count()).select_from(Project))).scalar_one()
            q = select(Project).order_by(Project.name).offset(offset).limit(limit)
            projects = list((await session.execute(q)).scalars())
            return await self._records(session, projects), total

    async def get_stage(self, project: str, stage: str) -> StageRecord:
        """Raises NotFoundError("project"|"stage", ...)."""
        async with self.db.session() as session:
            if await session.get(Project, project) is None:
                raise NotFoundError("project", project)
            if await session.get(Stage, (project, stage)) is None:
                raise NotFoundError("stage", stage)
            services = await self._services(session, [project], stage=stage)
            return StageRecord(name=stage, services=services[(project, stage)])

    async def create_service(self, project: str, service: str) -> None:
        """Create the service in every stage of the project.

        Raises NotFoundError("project", ...), AlreadyExistsError("service", service).
        """
        try:
            async with self.db.session(write=True) as session:
                # Lock the project so a concurrent update_project cannot add a stage this service misses.
                q = select(Project.name).where(Project.name == project).with_for_update(key_share=True)
                if (await session.execute(q)).first() is None:
                    raise NotFoundError("project", project)
                existing = select(Service.name).where(Service.project == project, Service.name == service)
                if (await session.execute(existing.limit(1))).first() is not None:
                    raise AlreadyExistsError("service", service)
                stages = (await session.execute(select(Stage.name).where(Stage.project == project))).scalars()
                now = utcnow()
                session.add_all(
                    Service(project=project, stage=s, name=service, created_at=now) for s in stages
                )
                await session.flush()
        except IntegrityError as exc:
            raise AlreadyExistsError("service", service) from exc

    async def delete_service(self, project: str, service: str) -> None:
        """Delete the service from every stage (and its service-level resources). Raises NotFoundError."""
        async with self.db.session(write=True) as session:
            if await session.get(Project, project) is None:
                raise NotFoundError("project", project)
            result = await session.execute(
                delete(Service).where(Service.project == project, Service.name == service)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError("service", service)
            # Service-level resources have no foreign key ("" means no service): remove them explicitly.
            await session.execute(
                delete(ResourceVersion).where(
                    ResourceVersion.project == project, ResourceVersion.service == service
                )
            )

    async def get_service(self, project: str, stage: str, service: str) -> ServiceRecord:
        """Raises NotFoundError("project"|"stage"|"service", ...)."""
        async with self.db.session() as session:
            if await session.get(Project, project) is None:
                raise NotFoundError("project", project)
            if await session.get(Stage, (project, stage)) is None:
                raise NotFoundError("stage", stage)
            services = await self._services(session, [project], stage=stage, service=service)
            if not services[(project, stage)]:
                raise NotFoundError("service", service)
            return services[(project, stage)][0]

    async def record_service_event(
        self,
        project: str,
        stage: str,
        service: str,
        event_type: str,
        event_id: str,
        keptn_context: str,
        time: str,
        deployed_image: str | None = None,
    ) -> None:
        """Keep `lastEventTypes` current (used by the sequence engine). Unknown entities are ignored.

        `deployed_image` (optional addition) also sets the service's `deployedImage`.
        """
        try:
            async with self.db.session(write=True) as session:
                # INSERT ... SELECT FROM services: inserts nothing for an unknown service (no FK error), and the
                # upsert makes concurrent writers of the same type last-writer-wins instead of failing.
                source = select(
                    Service.project,
                    Service.stage,
                    Service.name,
                    literal(event_type),
                    literal(event_id),
                    literal(keptn_context),
                    literal(time),
                ).where(Service.project == project, Service.stage == stage, Service.name == service)
                ins = upsert_insert(session, ServiceLastEvent).from_select(
                    ["project", "stage", "service", "event_type", "event_id", "keptn_context", "time"], source
                )
                ins = ins.on_conflict_do_update(
                    index_elements=["project", "stage", "service", "event_type"],
                    set_={
                        "event_id": ins.excluded.event_id,
                        "keptn_context": ins.excluded.keptn_context,
                        "time": ins.excluded.time,
                    },
                )
                await session.execute(ins)
                if deployed_image is not None:
                    await session.execute(
                        update(Service)
                        .where(Service.project == project, Service.stage == stage, Service.name == service)
                        .values(deployed_image=deployed_image)
                    )
        except IntegrityError:
            # The service was deleted between our SELECT and INSERT (PostgreSQL READ COMMITTED): ignore it
            # like any other unknown service.
            log.debug("service %s/%s/%s vanished while recording %s", project, stage, service, event_type)

    # --- helpers -------------------------------------------------------------------------------------------

    def _apply_git(self, project: Project, git: GitSettings) -> None:
        project.git_remote_url = git.remote_url
        project.git_user = git.user
        project.git_proxy_url = git.proxy_url
        project.git_proxy_scheme = git.proxy_scheme
        project.git_proxy_user = git.proxy_user
        project.git_insecure_skip_tls = git.insecure_skip_tls
        if not git.secret:
            return
        if self._cipher is None:
            log.warning("project %s: git credentials not stored (no encryption key configured)", project.name)
            return
        project.git_secret = self._cipher.encrypt(git.secret)

    async def _add_stages(
        self, session: AsyncSession, project: str, names: Sequence[str], first_position: int
    ) -> None:
        unique = list(dict.fromkeys(names))  # keep shipyard order, drop repeats
        session.add_all(
            Stage(project=project, name=n, position=first_position + i) for i, n in enumerate(unique)
        )
        await session.flush()

    async def _add_missing_stages(self, session: AsyncSession, project: str, names: Sequence[str]) -> None:
        rows = (
            await session.execute(select(Stage.name, Stage.position).where(Stage.project == project))
        ).all()
        existing = {r.name for r in rows}
        new = [n for n in dict.fromkeys(names) if n not in existing]
        if not new:
            return
        await self._add_stages(
            session, project, new, first_position=max((r.position for r in rows), default=-1) + 1
        )
        services = (
            await session.execute(select(Service.name).where(Service.project == project).distinct())
        ).scalars()
        now = utcnow()
        session.add_all(
            Service(project=project, stage=s, name=svc, created_at=now) for svc in services for s in new
        )
        await session.flush()

    async def _services(
        self, session: AsyncSession, projects: list[str], stage: str | None = None, service: str | None = None
    ) -> dict[tuple[str, str], list[ServiceRecord]]:
        """Services with their lastEventTypes, keyed by (project, stage), ordered by creation."""
        q = select(Service).where(Service.project.in_(projects))
        e = select(ServiceLastEvent).where(ServiceLastEvent.project.in_(projects))
        if stage is not None:
            q = q.where(Service.stage == stage)
            e = e.where(ServiceLastEvent.stage == stage)
        if service is not None:
            q = q.where(Service.name == service)
            e = e.where(ServiceLastEvent.service == service)
        last: dict[tuple[str, str, str], dict[str, dict[str, str]]] = defaultdict(dict)
        for ev in (await session.execute(e)).scalars():
            last[(ev.project, ev.stage, ev.service)][ev.event_type] = {
                "eventId": ev.event_id,
                "keptnContext": ev.keptn_context,
                "time": ev.time,
            }
        result: dict[tuple[str, str], list[ServiceRecord]] = defaultdict(list)
        for s in (await session.execute(q.order_by(Service.created_at, Service.name))).scalars():
            result[(s.project, s.stage)].append(
                ServiceRecord(
                    name=s.name,
                    created_at=s.created_at,
                    deployed_image=s.deployed_image,
                    last_event_types=last.get((s.project, s.stage, s.name), {}),
                )
            )
        return result

    async def _shipyards(self, session: AsyncSession, projects: list[str]) -> dict[str, str]:
        """Current project-level shipyard.yaml of each project (the resource is the only source of truth)."""
        rv = ResourceVersion
        is_shipyard = [rv.stage == "", rv.service == "", rv.uri == SHIPYARD_URI]
        newest = (
            select(rv.project, func.max(rv.commit_seq).label("seq"))
            .where(rv.project.in_(projects), *is_shipyard)
            .group_by(rv.project)
            .subquery()
        )
        q = select(rv.project, rv.content).join(
            newest, and_(rv.project == newest.c.project, rv.commit_seq == newest.c.seq)
        )
        rows = (await session.execute(q.where(*is_shipyard))).all()
        found = {r.project: (r.content or b"").decode() for r in rows}  # a tombstone has no content
        return {name: found.get(name, "") for name in projects}

    async def _records(self, session: AsyncSession, projects: list[Project]) -> list[ProjectRecord]:
        names = [p.name for p in projects]
        if not names:
            return []
        stage_rows = (
            await session.execute(
                select(Stage).where(Stage.project.in_(names)).order_by(Stage.project, Stage.position)
            )
        ).scalars()
        stages: dict[str, list[str]] = defaultdict(list)
        for s in stage_rows:
            stages[s.project].append(s.name)
        services = await self._services(session, names)
        shipyards = await self._shipyards(session, names)
        return [
            ProjectRecord(
                name=p.name,
                shipyard=shipyards[p.name],
                shipyard_version=p.shipyard_version,
                created_at=p.created_at,
                git=GitSettings(
                    remote_url=p.git_remote_url,
                    user=p.git_user,
                    proxy_url=p.git_proxy_url,
                    proxy_scheme=p.git_proxy_scheme,
                    proxy_user=p.git_proxy_user,
                    insecure_skip_tls=p.git_insecure_skip_tls,
                ),
                stages=[StageRecord(name=s, services=services.get((p.name, s), [])) for s in stages[p.name]],
            )
            for p in projects
        ]
