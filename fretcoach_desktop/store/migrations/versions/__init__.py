"""Alembic revision scripts, oldest first: 0001 (initial schema), 0002, ..."""
