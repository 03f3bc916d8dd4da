"""One row per status change of a sweep (sweep_events), as job_events for jobs.

Sweeps made before this revision get the events their row still shows: their creation
(NULL -> running, at created_at) and, for a finished one, running -> its status at
finished_at, with its error as the reason.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'running', 'succeeded', 'failed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "sweep_events",
        sa.Column("sweep_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(f"to_status IN ({STATUSES})", name=op.f("ck_sweep_events_to_status")),
        sa.CheckConstraint(
            f"from_status IS NULL OR from_status IN ({STATUSES})", name=op.f("ck_sweep_events_from_status")
        ),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_events_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sweep_id", "seq", name=op.f("pk_sweep_events")),
    )
    op.execute(
        "INSERT INTO sweep_events (sweep_id, seq, from_status, to_status, at, reason) "
        "SELECT id, 1, NULL, 'running', created_at, 'created' FROM sweeps"
    )
    op.execute(
        "INSERT INTO sweep_events (sweep_id, seq, from_status, to_status, at, reason) "
        "SELECT id, 2, 'running', status, COALESCE(finished_at, created_at), error FROM sweeps WHERE status <> 'running'"
    )


def downgrade() -> None:
    op.drop_table("sweep_events")
