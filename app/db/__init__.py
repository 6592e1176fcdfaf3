"""Persistence: SQLAlchemy 2.0 models and sessions.

The schema is created by Alembic (`python -m app db upgrade`)."""
