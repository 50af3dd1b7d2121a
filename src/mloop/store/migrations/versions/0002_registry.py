"""Experiments (metrics, child executions) and the model registry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Spelled out rather than imported from the models (see 0001).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
Name = sa.String(255)
State = sa.String(16)


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True)


def _fk(column: str, table: str, target: str, ref: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{ref}"], name=f"fk_{table}_{column}_{target}"
    )


def upgrade() -> None:
    # SQLite cannot ALTER in a constraint: it takes the REFERENCES clause with the column.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE executions ADD COLUMN parent_id INTEGER REFERENCES executions (id)")
    else:
        op.add_column("executions", sa.Column("parent_id", Id, nullable=True))
        op.create_foreign_key(
            "fk_executions_parent_id_executions", "executions", "executions", ["parent_id"], ["id"]
        )
    op.create_index("ix_executions_parent_id", "executions", ["parent_id"])

    op.create_table(
        "metrics",
        _id(),
        sa.Column("execution_id", Id, nullable=False),
        sa.Column("key", Name, nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.Column("logged_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        _fk("execution_id", "metrics", "executions"),
    )
    op.create_index("ix_metrics_execution_id_key_step", "metrics", ["execution_id", "key", "step"])

    op.create_table(
        "registered_models",
        _id(),
        sa.Column("name", Name, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        _id(),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_id", Id, nullable=False),
        sa.Column("run_id", Name, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("signature", Json, nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", Json, nullable=False),
        sa.Column("state", State, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("created_by", Name, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
        _fk("model_id", "model_versions", "registered_models"),
        _fk("artifact_id", "model_versions", "artifacts"),
        _fk("run_id", "model_versions", "runs"),
    )
    op.create_index("ix_model_versions_artifact_id", "model_versions", ["artifact_id"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", Id, nullable=False),
        sa.Column("alias", Name, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_model_aliases"),
        _fk("model_id", "model_aliases", "registered_models"),
        _fk("version_id", "model_aliases", "model_versions"),
    )
    op.create_index("ix_model_aliases_version_id", "model_aliases", ["version_id"])
    op.create_table(
        "model_audit",
        _id(),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("alias", Name, nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", Name, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", Json, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_audit"),
        _fk("model_id", "model_audit", "registered_models"),
    )
    op.create_index("ix_model_audit_model_id_id", "model_audit", ["model_id", "id"])
    op.create_index(
        "ix_model_audit_model_id_action_version", "model_audit", ["model_id", "action", "version"]
    )
    op.create_table(
        "model_deployments",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("endpoint", Name, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "endpoint", name="pk_model_deployments"),
        _fk("version_id", "model_deployments", "model_versions"),
    )


def downgrade() -> None:
    for table in (
        "model_deployments",
        "model_audit",
        "model_aliases",
        "model_versions",
        "registered_models",
        "metrics",
    ):
        op.drop_table(table)
    op.drop_index("ix_executions_parent_id", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("parent_id")
