"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert_insert(session: AsyncSession, entity: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing/do_update` on both PostgreSQL and SQLite.

    Conflicts are resolved by the database rather than by check-then-insert, which races between replicas.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity)
    if dialect == "sqlite":
        return sqlite.insert(entity)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")
