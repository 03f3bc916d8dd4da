"""Find a trial by its job: the trainer of a sweep trial judges its own ASHA rungs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_trials_job_id"), "trials", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_trials_job_id"), table_name="trials")
