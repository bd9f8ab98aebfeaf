"""Tables. The Alembic migrations in store/migrations/versions are the source of truth for the deployed
schema; these models must stay identical to them (tests/store/test_migrations.py compares both).

Portability rules: free-form strings are TEXT (PostgreSQL VARCHAR(n) would reject values SQLite accepts),
times go through UTCDateTime, JSON through sa.JSON, blobs through LargeBinary, and integer keys are
autoincrement (SQLite AUTOINCREMENT never reuses a deleted maximum, so sequence numbers only grow).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names so that later migrations can drop/alter them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGSERIAL on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (BIGINT would not alias rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores TIMESTAMPTZ; SQLite stores text without an offset, so values are normalised to UTC
    before binding (which also keeps SQLite's text comparison chronological) and UTC is attached again when
    reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive values are taken as UTC, never as local time
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), str: Text()}


class Project(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(primary_key=True)
    shipyard_version: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    git_remote_url: Mapped[str] = mapped_column(default="")
    git_user: Mapped[str] = mapped_column(default="")
    git_proxy_url: Mapped[str] = mapped_column(default="")
    git_proxy_scheme: Mapped[str] = mapped_column(default="")
    git_proxy_user: Mapped[str] = mapped_column(default="")
    git_insecure_skip_tls: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fernet token of the JSON credentials (token, privateKey, ...); write-only.
    git_secret: Mapped[bytes | None] = mapped_column(LargeBinary)


class Stage(Base):
    __tablename__ = "stages"

    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        ForeignKeyConstraint(["project", "stage"], ["stages.project", "stages.name"], ondelete="CASCADE"),
    )

    project: Mapped[str] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    deployed_image: Mapped[str] = mapped_column(default="")


class ServiceLastEvent(Base):
    """`lastEventTypes` of a service, one row per event type.

    A row per type (instead of one JSON column) lets concurrent workers upsert different types without a
    read-modify-write race on a shared document.
    """

    __tablename__ = "service_last_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project", "stage", "service"],
            ["services.project", "services.stage", "services.name"],
            ondelete="CASCADE",
        ),
    )

    project: Mapped[str] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(primary_key=True)
    event_id: Mapped[str]
    keptn_context: Mapped[str]
    time: Mapped[str]  # as Keptn sends it (EventContextInfo.time is a string)


class Commit(Base):
    __tablename__ = "commits"
    __table_args__ = ({"sqlite_autoincrement": True},)

    # Global, DB-assigned order of all commits; "as of commit C" means seq <= C.seq within C's project.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]


class ResourceVersion(Base):
    __tablename__ = "resource_versions"
    __table_args__ = (
        # Also the index for "newest version of (level, uri) with commit_seq <= C".
        UniqueConstraint("project", "stage", "service", "uri", "commit_seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="CASCADE"))
    stage: Mapped[str]  # "" for project level
    service: Mapped[str]  # "" for project or stage level
    uri: Mapped[str]
    commit_seq: Mapped[int] = mapped_column(BigId, ForeignKey("commits.seq", ondelete="CASCADE"), index=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Secret(Base):
    __tablename__ = "secrets"

    # Keptn keeps secrets as Kubernetes Secrets in one namespace, so a name is unique across scopes.
    name: Mapped[str] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of the JSON object
    keys: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_project_time", "project", "time"),
        Index("ix_events_keptn_context_time", "keptn_context", "time"),
        Index("ix_events_type_time", "type", "time"),
        Index("ix_events_triggered_id", "triggered_id"),
        Index("ix_events_time", "time"),
        {"sqlite_autoincrement": True},
    )

    # Insertion order, the tie-breaker for equal times. It is the key (not `id`) because SQLite can only
    # autoincrement the primary key; `id` is unique and is what ON CONFLICT de-duplicates on.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(unique=True)
    type: Mapped[str]
    source: Mapped[str | None]
    time: Mapped[datetime]
    project: Mapped[str | None]
    stage: Mapped[str | None]
    service: Mapped[str | None]
    keptn_context: Mapped[str | None]
    triggered_id: Mapped[str | None]
    gitcommitid: Mapped[str | None]
    result: Mapped[str | None]
    status: Mapped[str | None]
    payload: Mapped[str]  # the wire JSON, returned unchanged


class ContextRoot(Base):
    """The first stored event of each keptnContext (`root=true` queries)."""

    __tablename__ = "context_roots"

    keptn_context: Mapped[str] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(index=True)
    project: Mapped[str | None]
    time: Mapped[datetime]


class Invalidation(Base):
    """`triggeredid`s named by `*.invalidated` events (`excludeInvalidated`)."""

    __tablename__ = "invalidations"

    triggered_id: Mapped[str] = mapped_column(primary_key=True)
    event_id: Mapped[str]
    project: Mapped[str | None]
    time: Mapped[datetime]


# --- Sequences (revision 0002) -------------------------------------------------------------------------


class SequenceExecution(Base):
    """One row per sequence execution (one Temporal workflow): Keptn's `SequenceExecution`.

    The indexed columns are copies of fields of `payload` (the whole record as JSON), kept for filtering.
    `version` only grows: a write with a version not above the stored one is ignored.
    """

    __tablename__ = "sequence_executions"
    __table_args__ = (
        Index("ix_sequence_executions_project_triggered_at", "project", "triggered_at"),
        Index("ix_sequence_executions_project_keptn_context", "project", "keptn_context"),
        Index("ix_sequence_executions_triggered_id", "triggered_id"),
        Index("ix_sequence_executions_finished_at", "finished_at"),
    )

    workflow_id: Mapped[str] = mapped_column(primary_key=True)
    project: Mapped[str]
    stage: Mapped[str]
    service: Mapped[str]
    sequence: Mapped[str]
    keptn_context: Mapped[str]
    triggered_id: Mapped[str]
    state: Mapped[str]
    status: Mapped[str]
    triggered_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
    payload: Mapped[str]  # JSON of the whole SequenceExecutionRecord
    # Set by the write that made the state terminal (0003, expand-only: NULL in rows of older releases).
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SequenceContext(Base):
    """One row per (project, keptnContext): what GET /sequence/{project} filters, sorts and pages on.

    Derived from the context's sequence_executions in the transaction that writes one of them.
    """

    __tablename__ = "sequence_contexts"
    __table_args__ = (Index("ix_sequence_contexts_project_triggered_at", "project", "triggered_at"),)

    project: Mapped[str] = mapped_column(primary_key=True)
    keptn_context: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]  # sequence of the root (earliest) execution
    service: Mapped[str]
    triggered_at: Mapped[datetime]  # of the root execution
    state: Mapped[str]  # Keptn's overall SequenceState.state
    updated_at: Mapped[datetime]


class SequencePause(Base):
    """A paused keptnContext (stage '' = every stage), for sequences triggered later in that context."""

    __tablename__ = "sequence_pauses"

    project: Mapped[str] = mapped_column(primary_key=True)
    keptn_context: Mapped[str] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]


class TriggeredEvent(Base):
    """`.triggered` events (sequence and task) and the workflow that owns them: Keptn's
    `<project>-triggeredEvents`. Closed rows stay (closed_at set) so late `.started`/`.finished` events can
    still be routed; only rows with closed_at NULL are open."""

    __tablename__ = "triggered_events"
    __table_args__ = (
        Index("ix_triggered_events_type_time", "type", "time"),
        Index("ix_triggered_events_project_keptn_context", "project", "keptn_context"),
    )

    event_id: Mapped[str] = mapped_column(primary_key=True)
    workflow_id: Mapped[str]
    type: Mapped[str]
    project: Mapped[str]
    stage: Mapped[str]
    service: Mapped[str]
    keptn_context: Mapped[str]
    time: Mapped[datetime]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    payload: Mapped[str]  # the CloudEvent's wire JSON


# --- Uniform (revision 0002) ---------------------------------------------------------------------------


class UniformIntegration(Base):
    """A registered integration (execution-plane service). Expired when lastseen is older than the TTL."""

    __tablename__ = "uniform_integrations"
    __table_args__ = (UniqueConstraint("name", "namespace"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    namespace: Mapped[str]
    metadata_json: Mapped[str]  # MetaData without lastseen
    legacy_subscription: Mapped[str | None]  # the deprecated `subscription` object, as posted
    last_seen: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]


class UniformSubscription(Base):
    __tablename__ = "uniform_subscriptions"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)  # keeps the order
    id: Mapped[str] = mapped_column(unique=True)
    integration_id: Mapped[str] = mapped_column(
        ForeignKey("uniform_integrations.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str]
    filter_json: Mapped[str]  # {"projects": [...]|null, "stages": ..., "services": ...}


class UniformLog(Base):
    """Error log entries of integrations (`POST /log`), kept for LOG_TTL."""

    __tablename__ = "uniform_logs"
    __table_args__ = (
        Index("ix_uniform_logs_integration_id_time", "integration_id", "time"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str]
    message: Mapped[str]
    keptn_context: Mapped[str]
    task: Mapped[str]
    triggered_id: Mapped[str]
    time: Mapped[datetime] = mapped_column(index=True)
