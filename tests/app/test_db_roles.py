"""The API's least-privilege PostgreSQL role (issue 14 item 6), against the real local PostgreSQL: created by
`python -m app db upgrade --api-role` after migrating, it can run the service (an evaluation end to end, which
writes runs and results) but cannot change the schema or the migration state."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.db.roles import ensure_api_role
from app.main import create_app
from tests.app.conftest import AUTH, ROOT, Artifacts, make_settings
from tests.app.test_evaluations import poll
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.postgres


def as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))


@pytest.fixture
def pg_schema_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("roles exist on PostgreSQL only")
    return database_url


@pytest.fixture
def role() -> Iterator[str]:
    name = f"mmwe_api_test_{uuid.uuid4().hex[:8]}"
    yield name
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_api_role_runs_the_service_but_cannot_change_the_schema(
    pg_schema_url: str, role: str, artifacts: Artifacts, tmp_path: Path
) -> None:
    env = dict(os.environ, DATABASE_URL=pg_schema_url, MMWE_DB_API_ROLE=role, MMWE_DB_API_PASSWORD="pw'1")
    done = subprocess.run(
        [sys.executable, "-m", "app", "db", "upgrade", "--api-role"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"created role {role}" in done.stdout
    assert "updated role" in ensure_api_role(pg_schema_url, role, "pw2")  # idempotent: the job runs each `up`

    url = as_role(pg_schema_url, role, "pw2")
    bench = artifacts.root / f"roles-{tmp_path.name}.tsv"
    bench.write_text("dog\tpuppy\tpizza\ncat\tkitten\tblue\n", encoding="utf-8")
    with TestClient(create_app(make_settings(artifacts, url))) as c:
        assert c.get("/readyz").status_code == 200
        spec = {"name": "t", "kind": "triplets", "path": str(bench)}
        r = c.post("/v1/admin/evaluations", json={"benchmarks": [spec]}, headers=AUTH)
        assert r.status_code == 202, r.text
        assert poll(c, r.json()["id"])["status"] == "succeeded"

    engine = sa.create_engine(url)
    refused = [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE evaluation_results",
        "ALTER TABLE evaluation_runs ADD COLUMN x int",
        "UPDATE alembic_version SET version_num = 'x'",
        "TRUNCATE evaluation_runs",
    ]
    for statement in refused:
        with (
            engine.connect() as conn,
            pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be"),
        ):
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            is False
        )
    engine.dispose()


def test_role_names_are_checked() -> None:
    with pytest.raises(ValueError, match="role name"):
        ensure_api_role("sqlite://", 'x"; DROP ROLE postgres; --', "pw")
    with pytest.raises(ValueError, match="MMWE_DB_API_PASSWORD"):
        ensure_api_role("sqlite://", "mmwe_api", "")
    assert "no roles" in ensure_api_role("sqlite://", "mmwe_api", "pw")
