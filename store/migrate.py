"""Schema migrations (Alembic), run once per rollout by `keptn-temporal migrate`, never by replicas.

Rules for future migrations, so that old and new releases can share one database during a rolling upgrade
(expand/contract):

* Release N ships an *expand* migration only: new tables, new nullable (or server-defaulted) columns, new
  indexes. Release N-1 code keeps working because it never sees anything it does not expect.
* Release N writes both the old and the new shape where they differ and reads with a fallback.
* Columns/tables that N no longer uses are dropped by a *contract* migration in release N+1, after no N-1
  replica can be running. Renames are expand (add) + backfill + contract (drop), never one ALTER.
* Migrations are hand-written (no autogenerate at runtime) and must work on SQLite and PostgreSQL; use
  `op.batch_alter_table` for column changes so SQLite's table-rebuild path is used there.

Alembic's configuration is built in code, so no alembic.ini is needed at runtime.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory lock key that serialises concurrent `migrate` runs (e.g. two jobs started at once).
MIGRATION_LOCK_KEY = 0x6B6570746E  # "keptn"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute rather than a main option: ConfigParser would interpolate '%' in passwords.
    config.attributes["database_url"] = url
    return config


# Alembic keeps the running migration context in module globals, so two upgrades in one process must not
# overlap (they would corrupt each other and hang). Across processes the database serialises them (env.py).
_process_lock = threading.Lock()


def _upgrade(url: str, revision: str) -> None:
    with _process_lock:
        command.upgrade(alembic_config(url), revision)


def run_migrations(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (default head). Blocks until done.

    env.py drives an async engine with asyncio.run(), which cannot nest in a running loop; when called from
    async code the upgrade runs in a helper thread (blocking the caller's loop: fine for a one-off step).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(url, revision)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            _upgrade(url, revision)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="alembic-upgrade")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
