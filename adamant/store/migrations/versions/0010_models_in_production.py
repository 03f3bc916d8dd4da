"""Models in production: webhooks and their delivery outbox, schedules, monitoring runs and a
registered model's monitoring policy.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, cascade: bool = False) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete="CASCADE" if cascade else None)


def upgrade() -> None:
    op.add_column("registered_models", sa.Column("policy", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("events", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        _fk("webhooks", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_tenant_id"), "webhooks", ["tenant_id"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Double(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        _fk("webhook_deliveries", "webhook_id", "webhooks", cascade=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(op.f("ix_webhook_deliveries_webhook_id_created_at"), "webhook_deliveries",
                    ["webhook_id", "created_at"], unique=False)
    op.create_index(op.f("ix_webhook_deliveries_state_next_at"), "webhook_deliveries", ["state", "next_at"], unique=False)
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.Double(), nullable=False),
        sa.Column("last_run_at", sa.Double(), nullable=True),
        sa.Column("last_run_id", sa.String(length=40), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.CheckConstraint("kind IN ('score', 'retrain')", name=op.f("ck_schedules_kind")),
        _fk("schedules", "tenant_id", "tenants"),
        _fk("schedules", "model_id", "registered_models", cascade=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_paused_next_run_at"), "schedules", ["paused", "next_run_at"], unique=False)
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("schedule_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("scoring_job_id", sa.String(length=40), nullable=True),
        sa.Column("verdict", sa.String(length=40), nullable=True),
        sa.Column("findings", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("retrain_job_id", sa.String(length=40), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("comparison_jobs", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("comparison", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        _fk("monitor_runs", "tenant_id", "tenants"),
        _fk("monitor_runs", "model_id", "registered_models", cascade=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    op.create_index(op.f("ix_monitor_runs_model_id_created_at"), "monitor_runs", ["model_id", "created_at"], unique=False)
    op.create_index(op.f("ix_monitor_runs_state"), "monitor_runs", ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("monitor_runs")
    op.drop_table("schedules")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_column("registered_models", "policy")
