"""Sequence executions, sequence contexts, pause markers, open .triggered events; uniform integrations,
subscriptions and logs.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Expand-only: new tables and indexes, nothing existing changes, so a release still on 0001 keeps working on
this schema. Written by hand; tests/store/test_migrations.py checks it matches store/schema.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sequence_executions",
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("triggered_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("triggered_at", TIME, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_sequence_executions"),
    )
    op.create_index(
        "ix_sequence_executions_project_triggered_at", "sequence_executions", ["project", "triggered_at"]
    )
    op.create_index(
        "ix_sequence_executions_project_keptn_context", "sequence_executions", ["project", "keptn_context"]
    )
    op.create_index("ix_sequence_executions_triggered_id", "sequence_executions", ["triggered_id"])
    op.create_table(
        "sequence_contexts",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("triggered_at", TIME, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("project", "keptn_context", name="pk_sequence_contexts"),
    )
    op.create_index(
        "ix_sequence_contexts_project_triggered_at", "sequence_contexts", ["project", "triggered_at"]
    )
    op.create_table(
        "sequence_pauses",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("project", "keptn_context", "stage", name="pk_sequence_pauses"),
    )
    op.create_table(
        "triggered_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_triggered_events"),
    )
    op.create_index("ix_triggered_events_type_time", "triggered_events", ["type", "time"])
    op.create_index(
        "ix_triggered_events_project_keptn_context", "triggered_events", ["project", "keptn_context"]
    )
    op.create_table(
        "uniform_integrations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("legacy_subscription", sa.Text(), nullable=True),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_uniform_integrations"),
        sa.UniqueConstraint("name", "namespace", name="uq_uniform_integrations_name_namespace"),
    )
    op.create_index("ix_uniform_integrations_last_seen", "uniform_integrations", ["last_seen"])
    op.create_table(
        "uniform_subscriptions",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("integration_id", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("filter_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["uniform_integrations.id"],
            name="fk_uniform_subscriptions_integration_id_uniform_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_uniform_subscriptions"),
        sa.UniqueConstraint("id", name="uq_uniform_subscriptions_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_uniform_subscriptions_integration_id", "uniform_subscriptions", ["integration_id"])
    op.create_table(
        "uniform_logs",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("triggered_id", sa.Text(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_uniform_logs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_uniform_logs_integration_id_time", "uniform_logs", ["integration_id", "time"])
    op.create_index("ix_uniform_logs_time", "uniform_logs", ["time"])


def downgrade() -> None:
    for table in (
        "uniform_logs",
        "uniform_subscriptions",
        "uniform_integrations",
        "triggered_events",
        "sequence_pauses",
        "sequence_contexts",
        "sequence_executions",
    ):
        op.drop_table(table)
