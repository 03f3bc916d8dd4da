"""The object-store prefixes a tenant's dataset references may name (tenants.dataset_prefixes).

Existing tenants get none ('[]'): object-store references stay refused until an admin sets them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch operation here rebuilt the table on SQLite, and
    # dropping the old tenants table fails its foreign keys once jobs or sweeps reference a tenant.
    op.add_column("tenants", sa.Column("dataset_prefixes", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade() -> None:
    op.drop_column("tenants", "dataset_prefixes")  # SQLite 3.35+ drops a column in place
