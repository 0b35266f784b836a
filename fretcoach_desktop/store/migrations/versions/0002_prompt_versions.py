"""Prompt versions on plans and coach tips; index coach tips by session and time.

Adds ``practice_plans.prompt_version`` and ``coach_messages.prompt_version`` (which
versioned prompt in resources/ produced the row; NULL for rows made before) and the index
``ix_coach_messages_session_id_t_s`` (a session's tips in order, for the history tab).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("practice_plans", sa.Column("prompt_version", sa.String(64), nullable=True))
    op.add_column("coach_messages", sa.Column("prompt_version", sa.String(64), nullable=True))
    op.create_index("ix_coach_messages_session_id_t_s", "coach_messages", ["session_id", "t_s"])


def downgrade() -> None:
    op.drop_index("ix_coach_messages_session_id_t_s", table_name="coach_messages")
    with op.batch_alter_table("coach_messages") as batch:
        batch.drop_column("prompt_version")
    with op.batch_alter_table("practice_plans") as batch:
        batch.drop_column("prompt_version")
