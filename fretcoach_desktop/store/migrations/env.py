"""Alembic environment: runs on the connection that :mod:`fretcoach_desktop.store.migrate` passes in.

``config.attributes["connection"]`` is an open SQLAlchemy connection, already inside the
transaction (and holding the lock) in which the whole upgrade runs, so a failed migration
changes nothing. Run from the ``alembic`` command line instead, it connects to
``sqlalchemy.url`` of the ini file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fretcoach_desktop.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
