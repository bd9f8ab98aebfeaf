"""Sequence executions (one per Temporal workflow), pause markers and open `.triggered` events.

Written by the sequence workflows' activities, read by the API (`/sequence`, `/sequence-execution`,
`/event/triggered`). Every write is idempotent so that activity retries and redeliveries are harmless:
`SequenceRepository.save` is version-guarded and `TriggeredEventRepository` is keyed by event id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.events import parse_event_time
from store.schema import (
    Project,
    SequenceContext,
    SequenceExecution,
    SequencePause,
    TriggeredEvent,
    utcnow,
)
from store.sql import upsert_insert

log = logging.getLogger(__name__)

# SequenceExecutionRecord.state values (Keptn's SequenceExecution.status.state plus `waiting` and `aborted`).
TRIGGERED = "triggered"
WAITING = "waiting"
STARTED = "started"
PAUSED = "paused"
WAITING_FOR_APPROVAL = "waitingForApproval"
FINISHED = "finished"
ABORTED = "aborted"
TIMED_OUT = "timedOut"
TERMINAL_STATES = frozenset({FINISHED, ABORTED, TIMED_OUT})
RUNNING_STATES = frozenset({STARTED, WAITING_FOR_APPROVAL})


@dataclass
class SequenceExecutionRecord:
    """One sequence execution (a Temporal workflow): a sequence of one stage in one keptnContext."""

    workflow_id: str
    project: str
    stage: str
    service: str
    sequence: str
    keptn_context: str
    triggered_id: str  # id of the <stage>.<seq>.triggered event
    state: str  # triggered|waiting|started|paused|waitingForApproval|finished|aborted|timedOut
    triggered_at: datetime
    version: int = 0  # monotonically increasing per workflow; older writes are ignored
    status: str = ""  # succeeded|errored|aborted|...
    result: str = ""  # pass|warning|fail
    current_task: str = ""
    current_task_triggered_id: str = ""
    gitcommitid: str = ""
    image: str = ""  # data.configurationChange.values.image of the trigger, if any
    problem_title: str = ""  # data.problem.problemTitle of a remediation trigger, if any
    labels: dict[str, str] = field(default_factory=dict)
    input_properties: dict[str, Any] = field(default_factory=dict)  # data of the .triggered event
    # [{name, triggeredID, result, status, properties}]
    previous_tasks: list[dict[str, Any]] = field(default_factory=list)
    latest_event: dict[str, Any] | None = None  # {id, type, time}
    latest_failed_event: dict[str, Any] | None = None
    latest_evaluation: dict[str, Any] | None = None  # {result, score}
    updated_at: datetime | None = None
    # Optional additions (not in the first interface; defaults keep old callers working):
    # the sequence's tasks as defined at trigger time: [{name, triggeredAfter?, properties?}]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    state_before_pause: str = ""
    # events of the current task: [{eventType, source, result, status, time, properties}]
    current_task_events: list[dict[str, Any]] = field(default_factory=list)


_TIME_FIELDS = ("triggered_at", "updated_at")
_RECORD_FIELDS = {f.name for f in dataclasses.fields(SequenceExecutionRecord)}


def _record_json(record: SequenceExecutionRecord) -> str:
    data = dataclasses.asdict(record)
    for name in _TIME_FIELDS:
        if data[name] is not None:
            data[name] = data[name].isoformat()
    return json.dumps(data, separators=(",", ":"), default=str)


def _record_from_json(payload: str) -> SequenceExecutionRecord:
    data = json.loads(payload)
    # Fields a newer release added are dropped, so an older replica can still read rows it did not write.
    data = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
    for name in _TIME_FIELDS:
        if data.get(name) is not None:
            data[name] = parse_event_time(data[name])
    return SequenceExecutionRecord(**data)


def context_state(records: Sequence[SequenceExecutionRecord]) -> str:
    """Keptn's overall `SequenceState.state` of a keptnContext, derived from its executions.

    Keptn's materialized view moved triggered -> started when the first sequence started and never back,
    showed `waiting` while blocked, `paused` when the whole context was paused, and, once no stage was
    still running, the end state of the latest sequence (finished, aborted or timedOut).
    """
    if not records:
        return TRIGGERED
    ordered = sorted(records, key=lambda r: (r.triggered_at, r.workflow_id))
    open_ = [r for r in ordered if r.state not in TERMINAL_STATES]
    if not open_:
        last = ordered[-1].state
        return last if last in (ABORTED, TIMED_OUT) else FINISHED
    if all(r.state == PAUSED for r in open_):
        return PAUSED
    if any(r.state in RUNNING_STATES for r in open_):
        return STARTED
    if any(r.state == WAITING for r in open_):
        return WAITING
    # Only `triggered` (or paused) ones left: started already if an earlier stage ran.
    return STARTED if len(open_) < len(ordered) or any(r.state == PAUSED for r in open_) else TRIGGERED


@dataclass
class SequenceContextRecord:
    """One keptnContext of a project with its executions (oldest first): one entry of GET /sequence."""

    project: str
    keptn_context: str
    name: str  # sequence name of the root (earliest) execution
    service: str
    triggered_at: datetime
    state: str
    executions: list[SequenceExecutionRecord]


class SequenceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, record: SequenceExecutionRecord) -> bool:
        """Upsert by workflow_id, applied only if `record.version` is above the stored version.

        Returns whether it was applied. `updated_at` is set to now when the record has none. The
        keptnContext's summary row (GET /sequence) is refreshed in the same transaction.
        """
        now = utcnow()
        if record.updated_at is None:
            record = dataclasses.replace(record, updated_at=now)
        row = {
            "workflow_id": record.workflow_id,
            "project": record.project,
            "stage": record.stage,
            "service": record.service,
            "sequence": record.sequence,
            "keptn_context": record.keptn_context,
            "triggered_id": record.triggered_id,
            "state": record.state,
            "status": record.status,
            "triggered_at": record.triggered_at,
            "version": record.version,
            "updated_at": record.updated_at,
            "payload": _record_json(record),
            "finished_at": record.updated_at if record.state in TERMINAL_STATES else None,
        }
        table = SequenceExecution.__table__
        async with self.db.session(write=True) as session:
            ins = upsert_insert(session, table).values(**row)
            ins = ins.on_conflict_do_update(
                index_elements=["workflow_id"],
                set_={k: getattr(ins.excluded, k) for k in row if k != "workflow_id"},
                where=table.c.version < ins.excluded.version,
            ).returning(table.c.workflow_id)
            if (await session.execute(ins)).first() is None:
                return False
            await self._refresh_context(session, record.project, record.keptn_context)
            return True

    async def _refresh_context(self, session: AsyncSession, project: str, keptn_context: str) -> None:
        table = SequenceContext.__table__
        now = utcnow()
        # Create the summary row if needed, then lock it: concurrent saves of one context (parallel stages)
        # are serialised here, so each derives the state from the others' committed rows (PostgreSQL READ
        # COMMITTED re-reads per statement; SQLite write transactions are serial anyway).
        placeholder = upsert_insert(session, table).values(
            project=project,
            keptn_context=keptn_context,
            name="",
            service="",
            triggered_at=now,
            state=TRIGGERED,
            updated_at=now,
        )
        await session.execute(placeholder.on_conflict_do_nothing(index_elements=["project", "keptn_context"]))
        lock = select(table.c.project).where(
            table.c.project == project, table.c.keptn_context == keptn_context
        )
        if session.get_bind().dialect.name == "postgresql":
            lock = lock.with_for_update()
        await session.execute(lock)
        records = await self._context_records(session, project, keptn_context)
        if not records:
            return
        root = records[0]
        await session.execute(
            update(table)
            .where(table.c.project == project, table.c.keptn_context == keptn_context)
            .values(
                name=root.sequence,
                service=root.service,
                triggered_at=root.triggered_at,
                state=context_state(records),
                updated_at=now,
            )
        )

    @staticmethod
    async def _context_records(
        session: AsyncSession, project: str, keptn_context: str, stage: str | None = None
    ) -> list[SequenceExecutionRecord]:
        q = select(SequenceExecution.payload).where(
            SequenceExecution.project == project, SequenceExecution.keptn_context == keptn_context
        )
        if stage:
            q = q.where(SequenceExecution.stage == stage)
        q = q.order_by(SequenceExecution.triggered_at, SequenceExecution.workflow_id)
        return [_record_from_json(p) for p in (await session.execute(q)).scalars()]

    async def get(self, workflow_id: str) -> SequenceExecutionRecord | None:
        async with self.db.session() as session:
            payload = await session.scalar(
                select(SequenceExecution.payload).where(SequenceExecution.workflow_id == workflow_id)
            )
        return None if payload is None else _record_from_json(payload)

    async def list(
        self,
        project: str,
        *,
        name: str | None = None,
        state: str | Iterable[str] | None = None,
        stage: str | None = None,
        service: str | None = None,
        keptn_context: str | None = None,
        from_time: datetime | None = None,
        before_time: datetime | None = None,
        offset: int = 0,
        limit: int | None = 20,
    ) -> tuple[list[SequenceExecutionRecord], int]:
        """Executions of a project, newest `triggered_at` first; (page, total).

        Empty filters count as absent; `state` may be several states; `from_time` is inclusive and
        `before_time` exclusive (on triggered_at); `limit` None or <= 0 means no limit.
        """
        conditions: list[ColumnElement[bool]] = [SequenceExecution.project == project]
        for column, value in (
            (SequenceExecution.sequence, name),
            (SequenceExecution.stage, stage),
            (SequenceExecution.service, service),
            (SequenceExecution.keptn_context, keptn_context),
        ):
            if value:
                conditions.append(column == value)
        if state:
            states = [state] if isinstance(state, str) else list(state)
            conditions.append(SequenceExecution.state.in_(states))
        if from_time is not None:
            conditions.append(SequenceExecution.triggered_at >= from_time)
        if before_time is not None:
            conditions.append(SequenceExecution.triggered_at < before_time)
        async with self.db.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(SequenceExecution).where(*conditions)
            )
            if not total:
                return [], 0
            q = (
                select(SequenceExecution.payload)
                .where(*conditions)
                .order_by(SequenceExecution.triggered_at.desc(), SequenceExecution.workflow_id.desc())
                .offset(max(offset, 0))
            )
            if limit is not None and limit > 0:
                q = q.limit(limit)
            payloads = (await session.execute(q)).scalars().all()
        return [_record_from_json(p) for p in payloads], total

    async def by_context(
        self, project: str, keptn_context: str, stage: str | None = None
    ) -> list[SequenceExecutionRecord]:
        """Executions of a keptnContext (optionally one stage), oldest first."""
        async with self.db.session() as session:
            return await self._context_records(session, project, keptn_context, stage)

    async def list_contexts(
        self,
        project: str,
        *,
        name: str | None = None,
        state: str | None = None,
        keptn_contexts: Sequence[str] = (),
        from_time: datetime | None = None,
        before_time: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[SequenceContextRecord], int]:
        """keptnContexts of a project with their executions, newest root first (GET /sequence/{project}).

        `name` filters the root's sequence, `state` the derived overall state, `from_time`/`before_time`
        (both exclusive, as Keptn compared them) the root's trigger time; `limit` None or <= 0: no limit.
        """
        conditions: list[ColumnElement[bool]] = [
            SequenceContext.project == project,
            SequenceContext.name != "",
        ]
        if name:
            conditions.append(SequenceContext.name == name)
        if state:
            conditions.append(SequenceContext.state == state)
        contexts = [c for c in keptn_contexts if c]
        if contexts:
            conditions.append(SequenceContext.keptn_context.in_(contexts))
        if from_time is not None:
            conditions.append(SequenceContext.triggered_at > from_time)
        if before_time is not None:
            conditions.append(SequenceContext.triggered_at < before_time)
        async with self.db.session() as session:
            total = await session.scalar(select(func.count()).select_from(SequenceContext).where(*conditions))
            if not total:
                return [], 0
            q = (
                select(SequenceContext)
                .where(*conditions)
                .order_by(SequenceContext.triggered_at.desc(), SequenceContext.keptn_context.desc())
                .offset(max(offset, 0))
            )
            if limit is not None and limit > 0:
                q = q.limit(limit)
            rows = list((await session.execute(q)).scalars())
            if not rows:
                return [], total
            payloads = (
                await session.execute(
                    select(SequenceExecution.payload)
                    .where(
                        SequenceExecution.project == project,
                        SequenceExecution.keptn_context.in_([r.keptn_context for r in rows]),
                    )
                    .order_by(SequenceExecution.triggered_at, SequenceExecution.workflow_id)
                )
            ).scalars()
            by_context: dict[str, list[SequenceExecutionRecord]] = {r.keptn_context: [] for r in rows}
            for payload in payloads:
                rec = _record_from_json(payload)
                by_context[rec.keptn_context].append(rec)
        return [
            SequenceContextRecord(
                project=r.project,
                keptn_context=r.keptn_context,
                name=r.name,
                service=r.service,
                triggered_at=r.triggered_at,
                state=r.state,
                executions=by_context[r.keptn_context],
            )
            for r in rows
        ], total

    async def set_paused(self, project: str, keptn_context: str, stage: str | None, paused: bool) -> None:
        """Mark a keptnContext (stage None/'' = every stage) paused or not; idempotent.

        Resuming the whole context also clears the per-stage markers of that context.
        """
        stage = stage or ""
        async with self.db.session(write=True) as session:
            if paused:
                ins = upsert_insert(session, SequencePause.__table__).values(
                    project=project, keptn_context=keptn_context, stage=stage, created_at=utcnow()
                )
                await session.execute(
                    ins.on_conflict_do_nothing(index_elements=["project", "keptn_context", "stage"])
                )
                return
            q = delete(SequencePause).where(
                SequencePause.project == project, SequencePause.keptn_context == keptn_context
            )
            if stage:
                q = q.where(SequencePause.stage == stage)
            await session.execute(q)

    async def is_paused(self, project: str, keptn_context: str, stage: str) -> bool:
        """True if the whole context or this stage of it is paused."""
        q = select(
            exists().where(
                SequencePause.project == project,
                SequencePause.keptn_context == keptn_context,
                SequencePause.stage.in_(["", stage]),
            )
        )
        async with self.db.session() as session:
            return bool(await session.scalar(q))


def _data_text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


class TriggeredEventRepository:
    """Keptn's `<project>-triggeredEvents`: `.triggered` events that still wait for their `.finished`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, event: dict[str, Any], workflow_id: str) -> None:
        """Store an open `.triggered` event (wire JSON) owned by `workflow_id`. Idempotent by event id: a
        repeated open changes nothing (not even re-opening a closed one)."""
        if not event.get("id"):
            raise ValueError("an event needs an id")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        now = utcnow()
        async with self.db.session(write=True) as session:
            ins = upsert_insert(session, TriggeredEvent.__table__).values(
                event_id=str(event["id"]),
                workflow_id=workflow_id,
                type=str(event.get("type") or ""),
                project=_data_text(data, "project"),
                stage=_data_text(data, "stage"),
                service=_data_text(data, "service"),
                keptn_context=str(event.get("shkeptncontext") or ""),
                time=parse_event_time(event.get("time"), default=now),
                opened_at=now,
                closed_at=None,
                payload=json.dumps(event, separators=(",", ":"), default=str),
            )
            await session.execute(ins.on_conflict_do_nothing(index_elements=["event_id"]))

    async def close(self, event_id: str) -> None:
        """Mark the event as no longer open; idempotent (unknown ids are ignored). The row stays for
        routing late `.started`/`.finished` events."""
        async with self.db.session(write=True) as session:
            await session.execute(
                update(TriggeredEvent)
                .where(TriggeredEvent.event_id == event_id, TriggeredEvent.closed_at.is_(None))
                .values(closed_at=utcnow())
            )

    async def route(self, triggered_id: str) -> tuple[str, bool] | None:
        """(workflow_id, still_open) of the `.triggered` event a `.started`/`.finished` refers to."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(TriggeredEvent.workflow_id, TriggeredEvent.closed_at).where(
                        TriggeredEvent.event_id == triggered_id
                    )
                )
            ).first()
        return None if row is None else (row.workflow_id, row.closed_at is None)

    async def list_open(
        self,
        event_type: str,
        *,
        project: str | None = None,
        stage: str | None = None,
        service: str | None = None,
        event_id: str | None = None,
        keptn_context: str | None = None,
        offset: int = 0,
        limit: int | None = 20,
        newest_first: bool = False,
        until: datetime | None = None,
        existing_projects_only: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """Open events of a type, as stored CloudEvents, oldest first; (page, total).

        Optional additions: `newest_first` (Keptn's API order), `until` (only events whose time is not
        after it: Keptn hides task events delayed by `triggeredAfter` until they are due),
        `existing_projects_only` (skip events of deleted projects), `limit` None or <= 0 = no limit.
        """
        conditions: list[ColumnElement[bool]] = [
            TriggeredEvent.type == event_type,
            TriggeredEvent.closed_at.is_(None),
        ]
        for column, value in (
            (TriggeredEvent.project, project),
            (TriggeredEvent.stage, stage),
            (TriggeredEvent.service, service),
            (TriggeredEvent.event_id, event_id),
            (TriggeredEvent.keptn_context, keptn_context),
        ):
            if value:
                conditions.append(column == value)
        if until is not None:
            conditions.append(TriggeredEvent.time <= until)
        if existing_projects_only:
            conditions.append(exists().where(Project.name == TriggeredEvent.project))
        order = (
            (TriggeredEvent.time.desc(), TriggeredEvent.event_id.desc())
            if newest_first
            else (TriggeredEvent.time, TriggeredEvent.event_id)
        )
        async with self.db.session() as session:
            total = await session.scalar(select(func.count()).select_from(TriggeredEvent).where(*conditions))
            if not total:
                return [], 0
            q = select(TriggeredEvent.payload).where(*conditions).order_by(*order).offset(max(offset, 0))
            if limit is not None and limit > 0:
                q = q.limit(limit)
            payloads = (await session.execute(q)).scalars().all()
        return [json.loads(p) for p in payloads], total

    async def close_context(self, project: str, keptn_context: str, stage: str | None = None) -> int:
        """Abort: close every open event of the context (optionally one stage); returns how many."""
        q = update(TriggeredEvent).where(
            TriggeredEvent.project == project,
            TriggeredEvent.keptn_context == keptn_context,
            TriggeredEvent.closed_at.is_(None),
        )
        if stage:
            q = q.where(TriggeredEvent.stage == stage)
        async with self.db.session(write=True) as session:
            result = await session.execute(q.values(closed_at=utcnow()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def purge_closed(self, closed_before: datetime) -> int:
        """Delete rows closed before `closed_before` (housekeeping; routing of events that old is moot)."""
        async with self.db.session(write=True) as session:
            result = await session.execute(
                delete(TriggeredEvent).where(
                    TriggeredEvent.closed_at.is_not(None), TriggeredEvent.closed_at < closed_before
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
