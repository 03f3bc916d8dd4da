"""Sweeps and optimizer comparisons: a parent row and one trial row per child job.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("request", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_trials", sa.Integer(), nullable=False),
        sa.Column("best_trial", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("controller_until", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('sweep', 'comparison')", name=op.f("ck_sweeps_kind")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed', 'cancelled')", name=op.f("ck_sweeps_status")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sweeps_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_tenant_id_created_at_id"), "sweeps", ["tenant_id", "created_at", "id"], unique=False)
    op.create_index(op.f("ix_sweeps_status"), "sweeps", ["status"], unique=False)
    op.create_table(
        "trials",
        sa.Column("sweep_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("rungs", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("stopped_at_epoch", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.CheckConstraint("state IN ('running', 'complete', 'pruned', 'failed', 'cancelled')", name=op.f("ck_trials_state")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_trials_job_id_jobs")),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_trials_sweep_id_sweeps"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sweep_id", "number", name=op.f("pk_trials")),
    )


def downgrade() -> None:
    op.drop_table("trials")
    op.drop_index(op.f("ix_sweeps_status"), table_name="sweeps")
    op.drop_index(op.f("ix_sweeps_tenant_id_created_at_id"), table_name="sweeps")
    op.drop_table("sweeps")
