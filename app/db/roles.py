"""The least-privilege database role the API connects as (`python -m app db upgrade --api-role`).

The migration job connects as the database owner, upgrades the schema, then creates (or updates) the login
role MMWE_DB_API_ROLE with password MMWE_DB_API_PASSWORD and grants it only what serving needs, in the
schema being migrated: SELECT, INSERT, UPDATE, DELETE on the tables and USAGE on the sequences (new runs,
results, artifacts), SELECT only on `alembic_version`. It owns nothing, so it cannot create, alter or drop
tables, and it is not a superuser: an SQL injection or a stolen API password cannot change the schema or
read other databases. PostgreSQL only; on SQLite (no roles) the step says so and does nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import create_engine, text

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def literal(value: str) -> str:
    """A PostgreSQL string literal (CREATE ROLE ... PASSWORD takes no bind parameter)."""
    return "'" + value.replace("'", "''") + "'"


def ensure_api_role(database_url: str, role: str, password: str) -> str:
    """Create or update `role` with the API's privileges; returns what was done, in words."""
    if not ROLE_NAME.fullmatch(role):
        raise ValueError(f"role name {role!r} must match {ROLE_NAME.pattern}")
    if not password:
        raise ValueError("MMWE_DB_API_PASSWORD is empty: set a password for the API's database role")
    engine = create_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            return f"{engine.dialect.name} has no roles: nothing to do"
        with engine.begin() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                text(
                    f'{verb} ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                    f"PASSWORD {literal(password)}"
                )
            )
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            conn.execute(
                text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            )
            conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'REVOKE INSERT, UPDATE, DELETE ON "{schema}".alembic_version FROM "{role}"'))
        done = "updated" if exists else "created"
        return f"{done} role {role} with the API's privileges on {database}.{schema}"
    finally:
        engine.dispose()
