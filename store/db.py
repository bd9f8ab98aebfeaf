"""Engine and session handling for SQLite (embedded default) and PostgreSQL (production).

SQLite notes: every connection gets WAL, a busy timeout, `synchronous=NORMAL` and foreign keys. pysqlite's
own transaction handling is switched off so that SQLAlchemy emits BEGIN itself; write sessions use
`BEGIN IMMEDIATE`, which takes the write lock up front. Without it a transaction that read first and then
writes fails at once with SQLITE_BUSY (busy_timeout does not cover a lock upgrade in WAL mode) whenever
another connection committed in between — exactly what concurrent API replicas and workers do.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option read by the "begin" listener: which BEGIN variant a SQLite transaction starts with.
_SQLITE_BEGIN = "keptn_sqlite_begin"


def async_url(url: str | URL) -> URL:
    """Accept plain `sqlite:///` / `postgresql://` URLs too and pick the async driver for them."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite" and u.drivername != "sqlite+aiosqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres") and u.drivername != "postgresql+asyncpg":
        u = u.set(drivername="postgresql+asyncpg")
    return u


def _is_memory_sqlite(u: URL) -> bool:
    return u.database in (None, "", ":memory:") or "mode=memory" in str(u)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_on_begin); pysqlite must not open transactions implicitly.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str | URL) -> AsyncEngine:
    u = async_url(url)
    if u.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if _is_memory_sqlite(u):
            # Each connection to :memory: would see its own empty database; share one connection instead.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        engine = create_async_engine(u, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    return create_async_engine(
        u,
        # Replicas survive a database failover/restart: stale pooled connections are detected, not handed out.
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=30,
        # Recycle before typical proxy/LB idle timeouts (pgbouncer, cloud load balancers) cut connections.
        pool_recycle=1800,
    )


class Database:
    """One engine per process; repositories open short sessions on it."""

    def __init__(self, url: str | URL) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine = create_engine(self.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.dialect = self.engine.dialect.name
        # Same pool; on SQLite its transactions start with BEGIN IMMEDIATE (migrations use it too).
        self.write_engine: AsyncEngine = (
            self.engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"}) if self.is_sqlite else self.engine
        )
        # expire_on_commit=False: records are built after commit from already loaded rows.
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed when the block succeeds, rolled back when it raises.

        `write=True` (optional addition) matters only on SQLite: it starts with `BEGIN IMMEDIATE` so that
        read-then-write transactions wait for the write lock instead of failing with SQLITE_BUSY.
        """
        maker = self._write_sessions if write else self._read_sessions
        async with maker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> bool:
        """True if the database answers; raises the driver's error otherwise."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
