"""monitors alerts pipelines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:44:12.353750
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inprod.store.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("window_start", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("drifted", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("report", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("computed_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_results")),
    )
    with op.batch_alter_table("drift_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_drift_results_endpoint_start", ["endpoint", "window_start"], unique=False
        )

    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=300), nullable=False),
        sa.Column("rule", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("actions", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("state_since", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column(
            "last_evaluated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("endpoint", "name", name=op.f("uq_monitors_endpoint_name")),
    )
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitors_endpoint"), ["endpoint"], unique=False)

    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stages", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("name", name=op.f("uq_pipelines_name")),
    )
    op.create_table(
        "retraining_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(length=300), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("details", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retraining_requests")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_retraining_requests_alert_id")),
    )
    with op.batch_alter_table("retraining_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retraining_requests_endpoint"), ["endpoint"], unique=False
        )

    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("time", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("details", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_alert_events_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_events_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_events_monitor_id"), ["monitor_id"], unique=False
        )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_alerts_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_endpoint"), ["endpoint"], unique=False)
        batch_op.create_index("ix_alerts_state_started", ["state", "started_at"], unique=False)

    op.create_table(
        "action_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("action_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_action_runs_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_runs")),
        sa.UniqueConstraint(
            "alert_id", "action_key", name=op.f("uq_action_runs_alert_id_action_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("action_runs")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_state_started")
        batch_op.drop_index(batch_op.f("ix_alerts_endpoint"))

    op.drop_table("alerts")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_events_monitor_id"))
        batch_op.drop_index(batch_op.f("ix_alert_events_alert_id"))

    op.drop_table("alert_events")
    with op.batch_alter_table("retraining_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retraining_requests_endpoint"))

    op.drop_table("retraining_requests")
    op.drop_table("pipelines")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitors_endpoint"))

    op.drop_table("monitors")
    with op.batch_alter_table("drift_results", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_results_endpoint_start")

    op.drop_table("drift_results")
