"""serving: endpoints, predictions, feedback, api tokens, batch jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:07:21.298173
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inprod.store.tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("input_path", sa.Text(), nullable=False),
        sa.Column("output_path", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model_ref", sa.String(length=300), nullable=False),
        sa.Column("settings", inprod.store.tables.JSONType(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_endpoints_name")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("prediction_id", sa.String(length=32), nullable=False),
        sa.Column("time", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("label", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("event", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("details", inprod.store.tables.JSONType(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_prediction_id"), ["prediction_id"], unique=False
        )

    op.create_table(
        "predictions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("time", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("inputs", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("outputs", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_endpoint_time", ["endpoint", "time"], unique=False)
        batch_op.create_index(batch_op.f("ix_predictions_trace_id"), ["trace_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_trace_id"))
        batch_op.drop_index("ix_predictions_endpoint_time")

    op.drop_table("predictions")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_prediction_id"))

    op.drop_table("feedback")
    op.drop_table("endpoints")
    op.drop_table("batch_jobs")
    op.drop_table("api_tokens")
