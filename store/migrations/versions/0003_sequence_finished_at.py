"""When a sequence execution ended: `sequence_executions.finished_at`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Expand-only: a nullable column and an index. The previous release, which does not know the column, keeps
inserting and updating rows on this schema (it is left NULL) — that is what a downgrade runs on. This release
writes it; the next one may read it (retention of finished sequences), and only a later one may tighten it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sequence_executions", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_sequence_executions_finished_at", "sequence_executions", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_sequence_executions_finished_at", table_name="sequence_executions")
    op.drop_column("sequence_executions", "finished_at")
