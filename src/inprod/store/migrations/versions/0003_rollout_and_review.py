"""rollout and review: deployment plans on endpoints, shadow links, review tasks, annotations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:48:51.278286
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inprod.store.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=True),
        sa.Column("example_id", sa.String(length=200), nullable=False),
        sa.Column("labeler", sa.String(length=200), nullable=False),
        sa.Column("label", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("prediction_id", sa.String(length=32), nullable=True),
        sa.Column("time", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("details", inprod.store.tables.JSONType(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotations_dataset"), ["dataset"], unique=False)
        batch_op.create_index(batch_op.f("ix_annotations_example_id"), ["example_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_annotations_prediction_id"), ["prediction_id"], unique=False
        )

    op.create_table(
        "review_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prediction_id", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("inputs", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("outputs", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_until", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", inprod.store.tables.JSONType(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_tasks")),
    )
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_tasks_endpoint"), ["endpoint"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_review_tasks_prediction_id"), ["prediction_id"], unique=False
        )
        batch_op.create_index(
            "ix_review_tasks_status_created", ["status", "created_at"], unique=False
        )

    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "plan",
                inprod.store.tables.JSONType(),
                nullable=False,
                server_default=sa.text("'{}'"),
            )
        )
        batch_op.add_column(
            sa.Column("state", sa.String(length=20), nullable=False, server_default="stable")
        )
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("primary_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_predictions_primary_id"), ["primary_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_primary_id"))
        batch_op.drop_column("primary_id")

    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("revision")
        batch_op.drop_column("state")
        batch_op.drop_column("plan")

    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_review_tasks_status_created")
        batch_op.drop_index(batch_op.f("ix_review_tasks_prediction_id"))
        batch_op.drop_index(batch_op.f("ix_review_tasks_endpoint"))

    op.drop_table("review_tasks")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotations_prediction_id"))
        batch_op.drop_index(batch_op.f("ix_annotations_example_id"))
        batch_op.drop_index(batch_op.f("ix_annotations_dataset"))

    op.drop_table("annotations")
