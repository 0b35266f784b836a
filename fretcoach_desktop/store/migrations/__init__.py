"""Alembic migrations of the practice database (applied by :func:`fretcoach_desktop.store.migrate.upgrade`)."""
