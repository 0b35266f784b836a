"""Per-device input latency calibrations.

Adds ``calibrations``: one row per measurement (or typed-in value) of a device's input
latency for a profile; the newest row per (user, device) is the one sessions subtract.
Adds ``sessions.latency_ms``: the latency a session subtracted (NULL before this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("latency_ms", sa.Float(), nullable=True))
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("spread_ms", sa.Float(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=True),
        sa.Column("clicks", sa.Integer(), nullable=True),
        sa.Column("bpm", sa.Float(), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("method IN ('play-along', 'loopback', 'manual')", name="ck_calibrations_method"),
        sa.CheckConstraint("latency_ms >= -1000 AND latency_ms <= 1000", name="ck_calibrations_latency_range"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_calibrations_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_calibrations"),
    )
    op.create_index("ix_calibrations_user_id_device_created_at", "calibrations", ["user_id", "device", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_calibrations_user_id_device_created_at", table_name="calibrations")
    op.drop_table("calibrations")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("latency_ms")
