from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection

from store.db import Database
from store.migrate import alembic_config, run_migrations
from store.schema import Base
from tests.fixtures.databases import create_postgres_database, drop_postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def test_migrated_schema_matches_models(database: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, Base.metadata))

    async with database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrations_are_rerunnable_from_a_running_loop(database: Database, database_url: str) -> None:
    run_migrations(database_url)  # already at head: a no-op, run in a helper thread because a loop is running
    async with database.engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar() == head_revision()


def test_run_migrations_from_sync_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"  # plain URL: the async driver is picked automatically
    run_migrations(url)
    run_migrations(url)

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert {"projects", "stages", "services", "commits", "resource_versions", "secrets", "events"} <= tables
    assert {"context_roots", "invalidations", "service_last_events", "alembic_version"} <= tables


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    run_migrations(url)
    command.downgrade(alembic_config(url), "base")
    run_migrations(url)


async def test_concurrent_migrations_of_a_fresh_database(database_url: str, tmp_path: Path) -> None:
    """`migrate` started by three processes at once (e.g. overlapping deploy jobs) and by three threads of
    one process: one run migrates, the others wait and find the schema at head."""
    if database_url.startswith("sqlite"):
        url, dsn = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}", None
    else:
        url, dsn = await create_postgres_database()
    try:
        code = "import sys; from store.migrate import run_migrations; run_migrations(sys.argv[1])"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        procs = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", code, url, env=env) for _ in range(3)
        ]
        threads = [asyncio.to_thread(run_migrations, url) for _ in range(3)]
        await asyncio.gather(*threads)
        assert [await p.wait() for p in procs] == [0, 0, 0]
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                versions = (
                    (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
                )
        finally:
            await db.dispose()
        assert versions == [head_revision()]
    finally:
        if dsn is not None:
            await drop_postgres_database(dsn, url)
