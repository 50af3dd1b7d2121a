"""The ML Metadata model, pipelines and runs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out here rather than imported from the models: a migration is a fixed point in
# history and must not change when the models do.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
Name = sa.String(255)
Hash = sa.String(128)
State = sa.String(16)


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "artifact_types",
        _id(),
        sa.Column("name", Name, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_types"),
        sa.UniqueConstraint("name", name="uq_artifact_types_name"),
    )
    op.create_table(
        "artifacts",
        _id(),
        sa.Column("type_id", Id, nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("fingerprint", Hash, nullable=False),
        sa.Column("properties", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["type_id"], ["artifact_types.id"], name="fk_artifacts_type_id_artifact_types"
        ),
    )
    op.create_index("ix_artifacts_uri", "artifacts", ["uri"])
    op.create_index("ix_artifacts_type_id", "artifacts", ["type_id"])

    op.create_table(
        "pipelines",
        _id(),
        sa.Column("name", Name, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
        sa.UniqueConstraint("name", name="uq_pipelines_name"),
    )
    op.create_table(
        "pipeline_versions",
        _id(),
        sa.Column("pipeline_id", Id, nullable=False),
        sa.Column("spec", Json, nullable=False),
        sa.Column("spec_hash", Hash, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_versions"),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name="fk_pipeline_versions_pipeline_id_pipelines"
        ),
        sa.UniqueConstraint(
            "pipeline_id", "spec_hash", name="uq_pipeline_versions_pipeline_id_spec_hash"
        ),
    )
    op.create_table(
        "contexts",
        _id(),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("name", Name, nullable=False),
        sa.Column("properties", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contexts"),
        sa.UniqueConstraint("type", "name", name="uq_contexts_type_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", Name, nullable=False),
        sa.Column("pipeline_version_id", Id, nullable=False),
        sa.Column("context_id", Id, nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("finished_at", Time, nullable=True),
        sa.Column("heartbeat_at", Time, nullable=True),
        sa.Column("owner", Name, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["pipeline_version_id"],
            ["pipeline_versions.id"],
            name="fk_runs_pipeline_version_id_pipeline_versions",
        ),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name="fk_runs_context_id_contexts"
        ),
        sa.UniqueConstraint("context_id", name="uq_runs_context_id"),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_pipeline_version_id", "runs", ["pipeline_version_id"])
    op.create_index("ix_runs_state", "runs", ["state"])

    op.create_table(
        "executions",
        _id(),
        sa.Column("run_id", Name, nullable=False),
        sa.Column("step", Name, nullable=False),
        sa.Column("component", Name, nullable=False),
        sa.Column("component_fingerprint", Hash, nullable=False),
        sa.Column("cache_key", Hash, nullable=True),
        sa.Column("params", Json, nullable=False),
        sa.Column("output_params", Json, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("finished_at", Time, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_uri", sa.Text(), nullable=True),
        sa.Column("cached_from", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_executions_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["cached_from"], ["executions.id"], name="fk_executions_cached_from_executions"
        ),
    )
    op.create_index(
        "ix_executions_cache_key_state_finished_at",
        "executions",
        ["cache_key", "state", "finished_at"],
    )
    op.create_index("ix_executions_run_id", "executions", ["run_id"])

    op.create_table(
        "events",
        _id(),
        sa.Column("execution_id", Id, nullable=False),
        sa.Column("artifact_id", Id, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key", Name, nullable=False),
        sa.Column("index", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["executions.id"], name="fk_events_execution_id_executions"
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_events_artifact_id_artifacts"
        ),
        sa.CheckConstraint("kind IN ('input', 'output')", name="ck_events_kind"),
    )
    op.create_index(
        "ix_events_artifact_id_kind_execution_id", "events", ["artifact_id", "kind", "execution_id"]
    )
    op.create_index(
        "ix_events_execution_id_kind_artifact_id", "events", ["execution_id", "kind", "artifact_id"]
    )

    op.create_table(
        "attributions",
        sa.Column("context_id", Id, nullable=False),
        sa.Column("artifact_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("context_id", "artifact_id", name="pk_attributions"),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name="fk_attributions_context_id_contexts"
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_attributions_artifact_id_artifacts"
        ),
    )
    op.create_table(
        "associations",
        sa.Column("context_id", Id, nullable=False),
        sa.Column("execution_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("context_id", "execution_id", name="pk_associations"),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name="fk_associations_context_id_contexts"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["executions.id"], name="fk_associations_execution_id_executions"
        ),
    )


def downgrade() -> None:
    for table in (
        "associations",
        "attributions",
        "events",
        "executions",
        "runs",
        "contexts",
        "pipeline_versions",
        "pipelines",
        "artifacts",
        "artifact_types",
    ):
        op.drop_table(table)
