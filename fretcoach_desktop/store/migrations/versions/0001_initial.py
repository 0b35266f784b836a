"""Initial schema: users, sessions, session_windows, notes, practice_plans, coach_messages, chat_messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _metrics() -> list[sa.Column]:
    return [
        sa.Column(name, sa.Float(), nullable=True)
        for name in ("pitch_accuracy", "scale_conformity", "timing_stability", "noise_control")
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _time("started_at"),
        _time("ended_at", nullable=True),
        _time("checkpointed_at", nullable=True),
        sa.Column("key", sa.String(4), nullable=False),
        sa.Column("scale", sa.String(32), nullable=False),
        sa.Column("bpm", sa.Float(), nullable=False),
        sa.Column("subdivision", sa.Integer(), nullable=False),
        *_metrics(),
        sa.Column("notes_played", sa.Integer(), nullable=False),
        sa.Column("noise_events", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("audio_device", sa.String(200), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.CheckConstraint("source IN ('live', 'file', 'demo')", name="ck_sessions_source"),
        sa.CheckConstraint("status IN ('in_progress', 'complete', 'recovered')", name="ck_sessions_status"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id_started_at", "sessions", ["user_id", "started_at"])
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.create_table(
        "session_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        *_metrics(),
        sa.Column("notes", sa.Integer(), nullable=False),
        sa.Column("noise_events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_session_windows_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_session_windows"),
        sa.UniqueConstraint("session_id", "idx", name="uq_session_windows_session_id_idx"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("onset_s", sa.Float(), nullable=False),
        sa.Column("midi", sa.Integer(), nullable=False),
        sa.Column("cents", sa.Float(), nullable=False),
        sa.Column("in_scale", sa.Boolean(), nullable=False),
        sa.Column("timing_offset_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_notes_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.UniqueConstraint("session_id", "seq", name="uq_notes_session_id_seq"),
    )
    op.create_table(
        "practice_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("weakest_metric", sa.String(32), nullable=True),
        sa.Column("source_session_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_practice_plans_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_practice_plans"),
    )
    op.create_index("ix_practice_plans_user_id_created_at", "practice_plans", ["user_id", "created_at"])
    op.create_table(
        "coach_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("t_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audio_path", sa.Text(), nullable=True),
        sa.Column("llm_ms", sa.Float(), nullable=True),
        sa.Column("tts_ms", sa.Float(), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("fell_back", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("feedback", sa.Integer(), nullable=True),
        _time("created_at"),
        sa.CheckConstraint("mode IN ('online', 'offline')", name="ck_coach_messages_mode"),
        sa.CheckConstraint("feedback IS NULL OR feedback IN (-1, 1)", name="ck_coach_messages_feedback"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_coach_messages_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_coach_messages"),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("tool_calls", sa.JSON(), nullable=True),
        sa.CheckConstraint("role IN ('user', 'assistant', 'system', 'tool')", name="ck_chat_messages_role"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_chat_messages_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
    )
    op.create_index(
        "ix_chat_messages_user_id_thread_id_created_at", "chat_messages", ["user_id", "thread_id", "created_at"]
    )


def downgrade() -> None:
    for table in ("chat_messages", "coach_messages", "practice_plans", "notes", "session_windows", "sessions", "users"):
        op.drop_table(table)
