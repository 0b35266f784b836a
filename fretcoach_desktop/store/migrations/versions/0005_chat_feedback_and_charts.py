"""Chat answers keep their chart, their trace and the player's thumbs.

Adds to ``chat_messages``: ``chart`` (the trend chart an answer showed, JSON, so a
reloaded conversation shows it again), ``trace_id`` (the answer's Opik trace, for the
feedback score) and ``feedback`` (+1 thumbs up, -1 thumbs down, NULL none), as coach tips
have.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("chart", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("trace_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("feedback", sa.Integer(), nullable=True))
        batch.create_check_constraint("ck_chat_messages_feedback", "feedback IS NULL OR feedback IN (-1, 1)")


def downgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_constraint("ck_chat_messages_feedback", type_="check")
        batch.drop_column("feedback")
        batch.drop_column("trace_id")
        batch.drop_column("chart")
