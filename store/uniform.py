"""Uniform: registered integrations with their subscriptions, and the integrations' error logs.

Keptn 1.4.5 semantics (shipyard-controller `uniformintegrationhandler.go`, `mongodb_uniform_repo.go`,
`mongodb_log_repo.go`):

* An integration is identified by name + `metadata.kubernetesmetadata.namespace`. Registering one that exists
  keeps its id and subscriptions and only refreshes metadata and `lastseen` (this is what keeps
  subscriptions stable across rolling upgrades); a new one gets id = sha1("<name>-<namespace>-<hostname>").
* Registrations expire `UNIFORM_INTEGRATION_TTL` (Go duration, default 48h as in Keptn's chart) after their
  last registration or ping. Keptn used a MongoDB TTL index; here expired rows are invisible to every read
  and deleted lazily by the next registration.
* Log entries expire after `LOG_TTL` (default 120h), the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from keptn.durations import parse_go_duration
from store.db import Database
from store.events import parse_event_time
from store.schema import UniformIntegration, UniformLog, UniformSubscription, utcnow

log = logging.getLogger(__name__)

DEFAULT_INTEGRATION_TTL = "48h"
DEFAULT_LOG_TTL = "120h"
WEBHOOK_SERVICE = "webhook-service"

Clock = Callable[[], datetime]

# Keptn's texts (uniformintegrationhandler.go, go-utils IntegrationID.Hash).
MSG_EVENT_REQUIRED = "the event must be specified when setting up a subscription"
MSG_STAGE_REQUIRED = (
    "at least one stage must be specified when setting up a subscription filter for a service"
)
MSG_WEBHOOK_PROJECT = "webhook should refer to exactly one project"
MSG_INCOMPLETE_ID = "incomplete integration ID. At least 'name','namespace' and 'nodename' must be set"

METADATA_KEYS = ("hostname", "integrationversion", "distributorversion", "location")
KUBERNETES_KEYS = ("namespace", "podname", "deploymentname")
FILTER_KEYS = ("projects", "stages", "services")


class UniformValidationError(ValueError):
    """A registration or subscription Keptn rejects with 400; `message` is Keptn's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def ttl_from_env(name: str, default: str) -> timedelta:
    raw = os.environ.get(name) or default
    try:
        ttl = parse_go_duration(raw)
    except ValueError:
        log.warning("%s=%r is not a Go duration; using %s", name, raw, default)
        return parse_go_duration(default)
    return ttl if ttl > timedelta(0) else parse_go_duration(default)


def format_go_time(dt: datetime) -> str:
    """Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC."""
    dt = parse_event_time(dt)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{dt.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def integration_id(name: str, namespace: str, hostname: str) -> str:
    if not (name and namespace and hostname):
        raise UniformValidationError(MSG_INCOMPLETE_ID)
    return hashlib.sha1(f"{name}-{namespace}-{hostname}".encode()).hexdigest()  # Keptn's id, not a secret


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


def normalize_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """{id, event, filter{projects, stages, services}}; an absent filter list stays null (Keptn: nil)."""
    raw_filter = sub.get("filter") if isinstance(sub.get("filter"), dict) else {}
    return {
        "id": _str(sub.get("id")),
        "event": _str(sub.get("event")),
        "filter": {k: _str_list(raw_filter.get(k)) for k in FILTER_KEYS},
    }


def validate_subscription(sub: dict[str, Any], *, check_project: bool) -> None:
    """Keptn's UniformParamsValidator on a normalised subscription."""
    if not sub["event"]:
        raise UniformValidationError(MSG_EVENT_REQUIRED)
    flt = sub["filter"]
    if flt["services"] is not None and flt["stages"] is None:
        raise UniformValidationError(MSG_STAGE_REQUIRED)
    if check_project and (flt["projects"] is None or len(flt["projects"]) > 1):
        raise UniformValidationError(MSG_WEBHOOK_PROJECT)


def _subscription_key(sub: dict[str, Any]) -> tuple[Any, ...]:
    flt = sub["filter"]
    return (sub["event"], *(tuple(flt[k] or ()) for k in FILTER_KEYS))


def _metadata(integration: dict[str, Any]) -> dict[str, Any]:
    raw = integration.get("metadata") if isinstance(integration.get("metadata"), dict) else {}
    k8s = raw.get("kubernetesmetadata") if isinstance(raw.get("kubernetesmetadata"), dict) else {}
    out: dict[str, Any] = {k: _str(raw.get(k)) for k in METADATA_KEYS}
    out["kubernetesmetadata"] = {k: _str(k8s.get(k)) for k in KUBERNETES_KEYS}
    return out


class IntegrationRepository:
    def __init__(self, db: Database, *, ttl: timedelta | None = None, clock: Clock = utcnow) -> None:
        """`ttl` defaults to env UNIFORM_INTEGRATION_TTL (48h); `clock` is for tests."""
        self.db = db
        self.ttl = (
            ttl if ttl is not None else ttl_from_env("UNIFORM_INTEGRATION_TTL", DEFAULT_INTEGRATION_TTL)
        )
        self.clock = clock

    def _alive(self) -> ColumnElement[bool]:
        return UniformIntegration.last_seen >= self.clock() - self.ttl

    async def register(self, integration: dict[str, Any]) -> tuple[str, bool]:
        """Create or refresh a registration; returns (id, created). Raises UniformValidationError."""
        name = _str(integration.get("name"))
        metadata = _metadata(integration)
        namespace = metadata["kubernetesmetadata"]["namespace"]
        posted = [
            normalize_subscription(s) for s in integration.get("subscriptions") or [] if isinstance(s, dict)
        ]
        legacy = integration.get("subscription")
        legacy_json = json.dumps(legacy) if isinstance(legacy, dict) else None
        for attempt in range(2):
            async with self.db.session(write=True) as session:
                await session.execute(
                    delete(UniformIntegration).where(UniformIntegration.last_seen < self.clock() - self.ttl)
                )
                existing = await session.scalar(
                    select(UniformIntegration).where(
                        UniformIntegration.name == name, UniformIntegration.namespace == namespace
                    )
                )
                if existing is not None:
                    await self._refresh(session, existing, metadata, legacy_json, posted)
                    return existing.id, False
            new_id = integration_id(name, namespace, metadata["hostname"])
            check_project = name == WEBHOOK_SERVICE
            for sub in posted:
                validate_subscription(sub, check_project=check_project)
            try:
                async with self.db.session(write=True) as session:
                    now = self.clock()
                    session.add(
                        UniformIntegration(
                            id=new_id,
                            name=name,
                            namespace=namespace,
                            metadata_json=json.dumps(metadata),
                            legacy_subscription=legacy_json,
                            last_seen=now,
                            created_at=now,
                        )
                    )
                    await session.flush()
                    for sub in posted:
                        self._add_subscription(session, new_id, {**sub, "id": str(uuid.uuid4())})
                return new_id, True
            except IntegrityError:
                # Another replica registered the same integration meanwhile: take the update path.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _refresh(
        self,
        session: AsyncSession,
        existing: UniformIntegration,
        metadata: dict[str, Any],
        legacy_json: str | None,
        posted: list[dict[str, Any]],
    ) -> None:
        existing.metadata_json = json.dumps(metadata)
        existing.last_seen = self.clock()
        if legacy_json is not None:
            existing.legacy_subscription = legacy_json
        current = await self._subscriptions(session, existing.id)
        known = {_subscription_key(s) for s in current}
        check_project = existing.name == WEBHOOK_SERVICE
        for sub in posted:
            try:
                validate_subscription(sub, check_project=check_project)
            except UniformValidationError as exc:
                log.warning("integration %s: ignoring invalid subscription %s: %s", existing.name, sub, exc)
                continue
            if _subscription_key(sub) in known:
                continue
            known.add(_subscription_key(sub))
            self._add_subscription(session, existing.id, {**sub, "id": str(uuid.uuid4())})

    @staticmethod
    def _add_subscription(session: AsyncSession, integration_id: str, sub: dict[str, Any]) -> None:
        session.add(
            UniformSubscription(
                id=sub["id"],
                integration_id=integration_id,
                event=sub["event"],
                filter_json=json.dumps(sub["filter"]),
            )
        )

    @staticmethod
    async def _subscriptions(session: AsyncSession, integration_id: str) -> list[dict[str, Any]]:
        rows = (
            await session.execute(
                select(UniformSubscription)
                .where(UniformSubscription.integration_id == integration_id)
                .order_by(UniformSubscription.seq)
            )
        ).scalars()
        return [{"id": r.id, "event": r.event, "filter": json.loads(r.filter_json)} for r in rows]

    async def _view(self, session: AsyncSession, row: UniformIntegration) -> dict[str, Any]:
        metadata = json.loads(row.metadata_json)
        metadata["lastseen"] = format_go_time(row.last_seen)
        out: dict[str, Any] = {
            "id": row.id,
            "name": row.name,
            "metadata": metadata,
            "subscriptions": await self._subscriptions(session, row.id),
        }
        if row.legacy_subscription is not None:
            out["subscription"] = json.loads(row.legacy_subscription)
        return out

    async def _get_row(self, session: AsyncSession, integration_id: str) -> UniformIntegration | None:
        return await session.scalar(
            select(UniformIntegration).where(UniformIntegration.id == integration_id, self._alive())
        )

    async def get(self, integration_id: str) -> dict[str, Any] | None:
        async with self.db.session() as session:
            row = await self._get_row(session, integration_id)
            return None if row is None else await self._view(session, row)

    async def list(
        self,
        *,
        id: str | None = None,  # Keptn's query parameter name
        name: str | None = None,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        namespace: str | None = None,
    ) -> list[dict[str, Any]]:
        """Live integrations, oldest registration first. `project`/`stage`/`service` match integrations
        with a subscription whose filter names that value (Keptn's array match: an empty filter, meaning
        "all", does not match)."""
        conditions: list[ColumnElement[bool]] = [self._alive()]
        for column, value in (
            (UniformIntegration.id, id),
            (UniformIntegration.name, name),
            (UniformIntegration.namespace, namespace),
        ):
            if value:
                conditions.append(column == value)
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(UniformIntegration)
                    .where(*conditions)
                    .order_by(UniformIntegration.created_at, UniformIntegration.id)
                )
            ).scalars()
            views = [await self._view(session, row) for row in rows]
        wanted = {"projects": project, "stages": stage, "services": service}
        for key, value in wanted.items():
            if value:
                views = [
                    v for v in views if any(value in (s["filter"].get(key) or []) for s in v["subscriptions"])
                ]
        return views

    async def delete(self, integration_id: str) -> bool:
        """Remove a registration with its subscriptions; False if there was none."""
        async with self.db.session(write=True) as session:
            result = await session.execute(
                delete(UniformIntegration).where(UniformIntegration.id == integration_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def ping(self, integration_id: str) -> dict[str, Any] | None:
        """Heartbeat: refresh lastseen and return the integration with its subscriptions; None if it is
        unknown or expired."""
        async with self.db.session(write=True) as session:
            result = await session.execute(
                update(UniformIntegration)
                .where(UniformIntegration.id == integration_id, self._alive())
                .values(last_seen=self.clock())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            row = await self._get_row(session, integration_id)
            return None if row is None else await self._view(session, row)

    async def get_subscriptions(self, integration_id: str) -> list[dict[str, Any]] | None:
        """None if the integration is unknown or expired."""
        async with self.db.session() as session:
            if await self._get_row(session, integration_id) is None:
                return None
            return await self._subscriptions(session, integration_id)

    async def get_subscription(self, integration_id: str, subscription_id: str) -> dict[str, Any] | None:
        subs = await self.get_subscriptions(integration_id)
        return next((s for s in subs or [] if s["id"] == subscription_id), None)

    async def create_subscription(self, integration_id: str, subscription: dict[str, Any]) -> str | None:
        """Add a subscription with a new uuid; returns it, or None if the integration is unknown.

        Raises UniformValidationError. Like Keptn, the webhook-service project rule is not applied here
        (only on registration and update)."""
        sub = normalize_subscription(subscription)
        validate_subscription(sub, check_project=False)
        sub["id"] = str(uuid.uuid4())
        async with self.db.session(write=True) as session:
            if await self._get_row(session, integration_id) is None:
                return None
            self._add_subscription(session, integration_id, sub)
        return sub["id"]

    async def update_subscription(
        self, integration_id: str, subscription_id: str, subscription: dict[str, Any]
    ) -> bool:
        """Replace (or create, with the given id) a subscription; False if the integration is unknown.
        Raises UniformValidationError."""
        sub = normalize_subscription(subscription)
        async with self.db.session(write=True) as session:
            row = await self._get_row(session, integration_id)
            validate_subscription(sub, check_project=row is not None and row.name == WEBHOOK_SERVICE)
            if row is None:
                return False
            existing = await session.scalar(
                select(UniformSubscription).where(
                    UniformSubscription.id == subscription_id,
                    UniformSubscription.integration_id == integration_id,
                )
            )
            if existing is None:
                self._add_subscription(session, integration_id, {**sub, "id": subscription_id})
            else:
                existing.event = sub["event"]
                existing.filter_json = json.dumps(sub["filter"])
        return True

    async def delete_subscription(self, integration_id: str, subscription_id: str) -> bool:
        """Remove a subscription (a missing one is fine); False if the integration is unknown."""
        async with self.db.session(write=True) as session:
            if await self._get_row(session, integration_id) is None:
                return False
            await session.execute(
                delete(UniformSubscription).where(
                    UniformSubscription.id == subscription_id,
                    UniformSubscription.integration_id == integration_id,
                )
            )
        return True


def _log_view(row: UniformLog) -> dict[str, Any]:
    return {
        "integrationid": row.integration_id,
        "message": row.message,
        "time": format_go_time(row.time),
        "shkeptncontext": row.keptn_context,
        "task": row.task,
        "triggeredid": row.triggered_id,
    }


class LogRepository:
    """Integration error logs (`/log`), kept LOG_TTL (env, Go duration, default 120h)."""

    def __init__(self, db: Database, *, ttl: timedelta | None = None, clock: Clock = utcnow) -> None:
        self.db = db
        self.ttl = ttl if ttl is not None else ttl_from_env("LOG_TTL", DEFAULT_LOG_TTL)
        self.clock = clock

    async def add(self, entries: list[dict[str, Any]]) -> None:
        """Store entries ({integrationid, message, time?, shkeptncontext, task, triggeredid}); a missing
        time is now. Expired entries are deleted on the way."""
        now = self.clock()
        async with self.db.session(write=True) as session:
            await session.execute(delete(UniformLog).where(UniformLog.time < now - self.ttl))
            for entry in entries:
                raw_time = entry.get("time")
                time = parse_event_time(raw_time, default=now) if raw_time else now
                session.add(
                    UniformLog(
                        integration_id=_str(entry.get("integrationid")),
                        message=_str(entry.get("message")),
                        keptn_context=_str(entry.get("shkeptncontext")),
                        task=_str(entry.get("task")),
                        triggered_id=_str(entry.get("triggeredid")),
                        time=time,
                    )
                )

    async def list(
        self,
        *,
        integration_id: str | None = None,
        from_time: datetime | None = None,
        before_time: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Live entries, newest first; both time bounds inclusive (Keptn's $gte/$lte). `limit` None or
        <= 0: no limit (Keptn's default)."""
        conditions: list[ColumnElement[bool]] = [UniformLog.time >= self.clock() - self.ttl]
        if integration_id:
            conditions.append(UniformLog.integration_id == integration_id)
        if from_time is not None:
            conditions.append(UniformLog.time >= from_time)
        if before_time is not None:
            conditions.append(UniformLog.time <= before_time)
        async with self.db.session() as session:
            total = await session.scalar(select(func.count()).select_from(UniformLog).where(*conditions))
            if not total:
                return [], 0
            q = (
                select(UniformLog)
                .where(*conditions)
                .order_by(UniformLog.time.desc(), UniformLog.seq.desc())
                .offset(max(offset, 0))
            )
            if limit is not None and limit > 0:
                q = q.limit(limit)
            rows = (await session.execute(q)).scalars().all()
        return [_log_view(r) for r in rows], total

    async def delete(
        self,
        *,
        integration_id: str | None = None,
        from_time: datetime | None = None,
        before_time: datetime | None = None,
    ) -> int:
        """Delete matching entries (Keptn's DELETE /log; its gateway never let it through)."""
        q = delete(UniformLog)
        if integration_id:
            q = q.where(UniformLog.integration_id == integration_id)
        if from_time is not None:
            q = q.where(UniformLog.time >= from_time)
        if before_time is not None:
            q = q.where(UniformLog.time <= before_time)
        async with self.db.session(write=True) as session:
            return int((await session.execute(q)).rowcount or 0)  # type: ignore[attr-defined]
