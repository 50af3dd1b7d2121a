"""Prediction endpoints: deployed model versions, traffic split, shadows, log sampling.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out rather than imported from the models (see 0001).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
Name = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Name, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("deployments", Json, nullable=False),
        sa.Column("log_sample_rate", sa.Double(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("updated_by", Name, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
        sa.CheckConstraint(
            "log_sample_rate >= 0 AND log_sample_rate <= 1", name="ck_endpoints_log_sample_rate"
        ),
    )


def downgrade() -> None:
    op.drop_table("endpoints")
