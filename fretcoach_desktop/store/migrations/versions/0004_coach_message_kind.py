"""Coach messages say what they are: a live tip or the end-of-session summary.

Adds ``coach_messages.kind`` ('tip' or 'summary'). A tip is one sentence; a summary may be
two, so anyone reading the table (the window, the chat agent's SQL, an export) can tell
them apart. Rows from before this revision were all stored as tips except the last one of a
session, which was its summary when the session ended normally; the migration cannot know
which, so they stay 'tip'.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coach_messages") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="tip"))
        batch.create_check_constraint("ck_coach_messages_kind", "kind IN ('tip', 'summary')")


def downgrade() -> None:
    with op.batch_alter_table("coach_messages") as batch:
        batch.drop_constraint("ck_coach_messages_kind", type_="check")
        batch.drop_column("kind")
