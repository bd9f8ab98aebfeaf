"""Initial schema: projects, stages, services, commits, resource versions, secrets, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand (no autogenerate); tests/store/test_migrations.py checks it matches store/schema.py.
Column types are spelled out here instead of imported from store.schema so that later model changes can never
change what this revision creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("shipyard_version", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("git_remote_url", sa.Text(), nullable=False),
        sa.Column("git_user", sa.Text(), nullable=False),
        sa.Column("git_proxy_url", sa.Text(), nullable=False),
        sa.Column("git_proxy_scheme", sa.Text(), nullable=False),
        sa.Column("git_proxy_user", sa.Text(), nullable=False),
        sa.Column("git_insecure_skip_tls", sa.Boolean(), nullable=False),
        sa.Column("git_secret", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_projects"),
    )
    op.create_table(
        "stages",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_stages_project_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project", "name", name="pk_stages"),
    )
    op.create_table(
        "services",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("deployed_image", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project", "stage"],
            ["stages.project", "stages.name"],
            name="fk_services_project_stage_stages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project", "stage", "name", name="pk_services"),
    )
    op.create_table(
        "service_last_events",
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("time", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project", "stage", "service"],
            ["services.project", "services.stage", "services.name"],
            name="fk_service_last_events_project_stage_service_services",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project", "stage", "service", "event_type", name="pk_service_last_events"),
    )
    op.create_table(
        "commits",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_commits_project_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_commits"),
        sa.UniqueConstraint("id", name="uq_commits_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_commits_project", "commits", ["project"])
    op.create_table(
        "resource_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("commit_seq", BIG_ID, nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_seq"],
            ["commits.seq"],
            name="fk_resource_versions_commit_seq_commits",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_resource_versions_project_projects", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_resource_versions"),
        sa.UniqueConstraint(
            "project",
            "stage",
            "service",
            "uri",
            "commit_seq",
            name="uq_resource_versions_project_stage_service_uri_commit_seq",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_resource_versions_commit_seq", "resource_versions", ["commit_seq"])
    op.create_table(
        "secrets",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_secrets"),
    )
    op.create_index("ix_secrets_scope", "secrets", ["scope"])
    op.create_table(
        "events",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("time", TIME, nullable=False),
        sa.Column("project", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("keptn_context", sa.Text(), nullable=True),
        sa.Column("triggered_id", sa.Text(), nullable=True),
        sa.Column("gitcommitid", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_project_time", "events", ["project", "time"])
    op.create_index("ix_events_keptn_context_time", "events", ["keptn_context", "time"])
    op.create_index("ix_events_type_time", "events", ["type", "time"])
    op.create_index("ix_events_triggered_id", "events", ["triggered_id"])
    op.create_index("ix_events_time", "events", ["time"])
    op.create_table(
        "context_roots",
        sa.Column("keptn_context", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=True),
        sa.Column("time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("keptn_context", name="pk_context_roots"),
    )
    op.create_index("ix_context_roots_event_id", "context_roots", ["event_id"])
    op.create_table(
        "invalidations",
        sa.Column("triggered_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=True),
        sa.Column("time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("triggered_id", name="pk_invalidations"),
    )


def downgrade() -> None:
    for table in (
        "invalidations",
        "context_roots",
        "events",
        "secrets",
        "resource_versions",
        "commits",
        "service_last_events",
        "services",
        "stages",
        "projects",
    ):
        op.drop_table(table)
