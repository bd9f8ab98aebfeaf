from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from store.db import Database, async_url
from store.schema import Secret


async def test_ping(database: Database) -> None:
    assert await database.ping() is True


async def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    now = datetime.now(UTC)
    name_ok, name_bad = f"ok-{now.timestamp()}", f"bad-{now.timestamp()}"
    async with database.session(write=True) as s:
        s.add(Secret(name=name_ok, scope="x", data=b"d", keys=[], created_at=now, updated_at=now))
    with pytest.raises(RuntimeError):
        async with database.session(write=True) as s:
            s.add(Secret(name=name_bad, scope="x", data=b"d", keys=[], created_at=now, updated_at=now))
            await s.flush()
            raise RuntimeError("boom")
    async with database.session() as s:
        names = set(
            (await s.execute(select(Secret.name).where(Secret.name.in_([name_ok, name_bad])))).scalars()
        )
    assert names == {name_ok}


async def test_times_come_back_aware_utc(database: Database) -> None:
    local = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    name = f"tz-{datetime.now(UTC).timestamp()}"
    async with database.session(write=True) as s:
        s.add(Secret(name=name, scope="x", data=b"d", keys=[], created_at=local, updated_at=local))
    async with database.session() as s:
        row = (await s.execute(select(Secret).where(Secret.name == name))).scalar_one()
    assert row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.created_at == local


async def test_sqlite_pragmas(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    async with database.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30000
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL


def test_async_url_picks_async_drivers() -> None:
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert async_url("postgresql+asyncpg://u@h/db").drivername == "postgresql+asyncpg"


async def test_in_memory_sqlite_shares_one_database() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        async with db.session(write=True) as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
            await s.execute(text("INSERT INTO t VALUES (1)"))
        async with db.session() as s:
            assert (await s.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        await db.dispose()
