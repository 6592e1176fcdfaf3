"""POST /v1/feedback (validation, its optional token, one row per request, 503 without a database) and
GET /v1/admin/feedback/export (streamed click log that `build-triplets clicks` reads to the same benchmark
as `--database`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.db.models import Feedback
from app.db.session import make_engine, make_sessionmaker
from app.main import create_app
from evaluation.__main__ import main as evaluation_main
from tests.app.conftest import AUTH, Artifacts, make_settings

CLICKS = [
    {"query": "Dog", "shown": ["puppy", "pizza", "river", "hound"], "clicked": ["puppy"]},
    {"query": "dog", "shown": ["puppy", "hound", "soup"], "clicked": ["hound", "puppy"]},
    {"query": "pizza", "shown": ["burger", "horse", "salad", "blue"], "clicked": ["burger", "salad"]},
    {"query": "red", "shown": ["orange", "beach", "green"], "clicked": []},
    {"query": "red", "shown": ["orange", "beach"], "clicked": ["orange"], "session": "s-1"},
    {"query": "river", "shown": ["beach", "soup", "dog"], "clicked": ["beach"], "model": "w2v"},
]


def rows(url: str) -> list[Feedback]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            return list(s.scalars(sa.select(Feedback).order_by(Feedback.id)))
    finally:
        engine.dispose()


def post_all(c: TestClient, items: list[dict[str, Any]]) -> list[int]:
    ids = []
    for item in items:
        r = c.post("/v1/feedback", json=item)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


def test_feedback_is_stored_with_the_serving_index(artifacts: Artifacts, migrated_database_url: str) -> None:
    with TestClient(create_app(make_settings(artifacts, migrated_database_url))) as c:
        ids = post_all(c, CLICKS)
    assert ids == sorted(ids) and len(set(ids)) == len(CLICKS)
    stored = rows(migrated_database_url)
    assert [(r.query, r.shown, r.clicked) for r in stored] == [
        (i["query"], i["shown"], i["clicked"]) for i in CLICKS
    ]
    assert [r.served_by for r in stored] == ["default"] * 5 + ["w2v"]
    assert [r.client for r in stored] == [None] * 4 + ["s-1", None]
    # the index serving the named model; "w2v" is not served here (tests/app/test_models.py: named models)
    assert [r.index_name for r in stored] == [artifacts.index.name] * 5 + [None]
    assert {r.assignment for r in stored} == {None}
    assert all(r.index_generation is not None for r in stored[:5])
    first = stored[0].created_at
    assert abs((first.replace(tzinfo=first.tzinfo or UTC) - datetime.now(UTC)).total_seconds()) < 60


def test_the_writer_lingers_as_configured(artifacts: Artifacts, sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url, feedback_linger_ms=50))) as c:
        assert c.app.state.feedback_writer.linger_s == 0.05  # type: ignore[attr-defined]
        assert c.post("/v1/feedback", json=CLICKS[0]).status_code == 202


LONG = "x" * 257


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"query": "", "shown": ["dog"], "clicked": []}, "query"),
        ({"query": "!!! ???", "shown": ["dog"], "clicked": []}, "query"),
        ({"query": LONG, "shown": ["dog"], "clicked": []}, "query"),
        ({"query": "dog", "shown": [], "clicked": []}, "shown"),
        ({"query": "dog", "shown": [f"p{i}" for i in range(101)], "clicked": []}, "shown"),
        ({"query": "dog", "shown": ["puppy", LONG], "clicked": []}, "shown"),
        ({"query": "dog", "shown": ["puppy", "..."], "clicked": []}, "shown"),
        ({"query": "dog", "shown": ["puppy"], "clicked": ["pizza"]}, "not shown"),
        ({"query": "dog", "shown": ["puppy"], "clicked": "puppy"}, "clicked"),
        ({"query": "dog", "shown": ["puppy"], "clicked": [], "model": ""}, "model"),
        ({"query": "dog", "shown": ["puppy"], "clicked": [], "session": "s" * 129}, "session"),
        ({"query": "dog", "shown": ["puppy"], "clicked": [], "ip": "10.0.0.1"}, "ip"),
        ({"shown": ["puppy"], "clicked": []}, "query"),
        ({"query": "dog\u0000cat", "shown": ["puppy"], "clicked": []}, "NUL"),
        ({"query": "dog", "shown": ["pup\u0000py"], "clicked": []}, "NUL"),
        ({"query": "dog", "shown": ["puppy"], "clicked": [], "session": "s\u0000"}, "NUL"),
    ],
)
def test_bad_feedback_is_refused_with_a_precise_422(
    client: TestClient, sqlite_url: str, body: dict[str, Any], where: str
) -> None:
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert where in str(error["detail"]), error
    assert rows(sqlite_url) == []


def test_not_json_is_a_422(client: TestClient) -> None:
    r = client.post("/v1/feedback", content=b"query=dog", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_the_feedback_token_is_checked_before_the_body(artifacts: Artifacts, sqlite_url: str) -> None:
    settings = make_settings(artifacts, sqlite_url, feedback_token="feedback-secret")
    good = {"query": "dog", "shown": ["puppy"], "clicked": ["puppy"]}
    with TestClient(create_app(settings)) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic feedback-secret"}):
            for body in (good, {"nonsense": True}):
                r = c.post("/v1/feedback", json=body, headers=headers)
                assert r.status_code == 401, r.text
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/feedback", json=good, headers=AUTH).status_code == 401  # the admin token is not it
        ok = c.post("/v1/feedback", json=good, headers={"Authorization": "Bearer feedback-secret"})
        assert ok.status_code == 202
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200  # queries stay open
    assert len(rows(sqlite_url)) == 1


def test_a_missing_database_is_a_503(artifacts: Artifacts, sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url))) as c:
        (tmp_path / "app.db").unlink()
        r = c.post("/v1/feedback", json={"query": "dog", "shown": ["puppy"], "clicked": ["puppy"]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        r = c.get("/v1/admin/feedback/export", headers=AUTH)
        assert r.status_code == 503
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200


def test_a_database_file_created_again_is_a_503(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path
) -> None:
    """Deleted, then created again empty by some new connection: pooled connections would still write to
    the deleted file, so the service refuses rather than lose the records."""
    import sqlite3

    with TestClient(create_app(make_settings(artifacts, sqlite_url))) as c:
        (tmp_path / "app.db").unlink()
        sqlite3.connect(tmp_path / "app.db").close()  # what any new connection to the path does
        r = c.post("/v1/feedback", json={"query": "dog", "shown": ["puppy"], "clicked": ["puppy"]})
        assert r.status_code == 503 and "replaced" in r.json()["error"]["message"], r.text


def export(c: TestClient, **params: str) -> str:
    r = c.get("/v1/admin/feedback/export", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/tab-separated-values")
    return r.text


def build(args: list[str], out: Path) -> str:
    assert evaluation_main(["build-triplets", "clicks", *args, "-o", str(out), "--seed", "3"]) == 0
    return out.read_text(encoding="utf-8")


def test_export_round_trips_into_build_triplets(
    artifacts: Artifacts, migrated_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(make_settings(artifacts, migrated_database_url))) as c:
        post_all(c, CLICKS)
        assert c.get("/v1/admin/feedback/export").status_code == 401
        text = export(c)
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert export(c, since=later) == "query\tphrase\tclicks\timpressions\n"
        assert export(c, until="2020-01-01") == "query\tphrase\tclicks\timpressions\n"
        assert export(c, since="2020-01-01T00:00:00+02:00", until=later) == text
        bad = c.get("/v1/admin/feedback/export", params={"since": later, "until": "2020-01-01"}, headers=AUTH)
        assert bad.status_code == 422 and "before" in bad.json()["error"]["message"]
        assert (
            c.get("/v1/admin/feedback/export", params={"since": "yesterday"}, headers=AUTH).status_code == 422
        )
    lines = text.splitlines()
    assert lines[0] == "query\tphrase\tclicks\timpressions"
    assert lines[1:5] == ["dog\tpuppy\t1\t1", "dog\tpizza\t0\t1", "dog\triver\t0\t1", "dog\thound\t0\t1"]
    assert len(lines) == 1 + sum(len(i["shown"]) for i in CLICKS)

    log = tmp_path / "export.tsv"
    log.write_text(text, encoding="utf-8")
    from_file = build([str(log)], tmp_path / "from_file.tsv")
    from_db = build(["--database", migrated_database_url], tmp_path / "from_db.tsv")
    assert from_file == from_db
    triplets = [line.split("\t") for line in from_file.splitlines()[1:]]
    assert {(q, p) for q, p, _ in triplets} == {
        ("dog", "puppy"),
        ("dog", "hound"),
        ("pizza", "burger"),
        ("pizza", "salad"),
        ("red", "orange"),
        ("river", "beach"),
    }
    capsys.readouterr()
    # --min-impressions 2: only phrases shown twice for their query ("dog": puppy, hound; "red": orange)
    for args in ([str(log)], ["--database", migrated_database_url]):
        out = tmp_path / "min2.tsv"
        evaluation_main(["build-triplets", "clicks", *args, "-o", str(out), "--min-impressions", "2"])
        kept = {tuple(line.split("\t")[:2]) for line in out.read_text().splitlines()[1:]}
        assert kept == {("dog", "puppy"), ("dog", "hound"), ("red", "orange")}
    # the window selects feedback in the database too
    assert (
        evaluation_main(
            [
                "build-triplets",
                "clicks",
                "--database",
                migrated_database_url,
                "--since",
                later,
                "-o",
                str(tmp_path / "none.tsv"),
            ]
        )
        == 0
    )
    assert (tmp_path / "none.tsv").read_text().splitlines() == ["base\tpositive\tnegative"]


def test_export_streams_every_record_in_chunks(artifacts: Artifacts, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as s:
        s.add_all(
            Feedback(query=f"query {i}", shown=["dog", "cat"], clicked=["dog"] if i % 2 else [])
            for i in range(2345)
        )
        s.commit()
    engine.dispose()
    with TestClient(create_app(make_settings(artifacts, sqlite_url))) as c:
        lines = export(c).splitlines()
    assert len(lines) == 1 + 2 * 2345
    assert lines[-2:] == ["query 2344\tdog\t0\t1", "query 2344\tcat\t0\t1"]
    assert sum(line.endswith("\t1\t1") for line in lines) == 2345 // 2


def test_build_triplets_database_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.tsv"
    assert evaluation_main(["build-triplets", "clicks", "--database", "sqlite://", "-o", str(out)]) == 2
    assert "cannot read feedback from the database: no such table: feedback" in capsys.readouterr().err
    assert evaluation_main(["build-triplets", "clicks", "-o", str(out)]) == 2
    assert "one of them" in capsys.readouterr().err
    log = tmp_path / "log.tsv"
    log.write_text("a\tb\t1\n")
    assert (
        evaluation_main(["build-triplets", "clicks", str(log), "--since", "2020-01-01", "-o", str(out)]) == 2
    )
    assert "use them with --database" in capsys.readouterr().err
    assert not out.exists()


def test_the_training_alias_reads_the_database_too(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.__main__ import main as training_main

    with TestClient(create_app(make_settings(artifacts, sqlite_url))) as c:
        post_all(c, CLICKS)
    ours, alias = tmp_path / "ours.tsv", tmp_path / "alias.tsv"
    args = ["build-triplets", "clicks", "--database", sqlite_url, "--seed", "5", "-o"]
    assert evaluation_main([*args, str(ours)]) == 0
    assert training_main([*args, str(alias)]) == 0
    assert "moved to `python -m evaluation build-triplets clicks`" in capsys.readouterr().err
    assert alias.read_text() == ours.read_text() and len(ours.read_text().splitlines()) == 7
