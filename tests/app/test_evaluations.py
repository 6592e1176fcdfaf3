"""Evaluation runs end to end on SQLite and PostgreSQL: trigger, poll, results in the database, same numbers
as `evaluation.run_suite` (the engine of the CLI evaluation); restarts; listing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.db.models import Artifact, ArtifactKind, EvaluationResult, EvaluationRun, RunStatus, utcnow
from app.db.session import make_engine, make_sessionmaker
from app.evaluations import store
from app.main import create_app
from index.search import PhraseSearcher
from tests.app.conftest import AUTH, ROOT, Artifacts, make_settings


def cli_evaluate(embeddings: Path, suite: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "evaluate",
            str(embeddings),
            "--suite",
            suite,
            "--format",
            "json",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def poll(c: TestClient, run_id: int, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body: dict[str, Any] = c.get(f"/v1/evaluations/{run_id}", headers=AUTH).json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("succeeded", "failed"):
            body["seen"] = seen
            return body
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s (seen {seen})")


@pytest.fixture
def benchmark_files(artifacts: Artifacts, tmp_path: Path) -> dict[str, Path]:
    """Benchmark files under MMWE_DATA_DIR (the only place evaluations may read by default)."""
    tmp_path = artifacts.root / "benchmarks" / tmp_path.name
    tmp_path.mkdir(parents=True)
    triplets = tmp_path / "triplets.tsv"
    triplets.write_text(
        "base\tpositive\tnegative\n"
        "dog\tpuppy\tpizza\nhot dog\tpuppy\triver\ncat\tkitten\tblue\npizza\tburger\thorse\n"
        "red\torange\tbeach\nriver\tbeach\tsoup\nzebra\tdog\tcat\n",
        encoding="utf-8",
    )
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("dog\tpuppy\t9.0\ndog\tpizza\t1.0\nred\tblue\t7.5\ncat\triver\t0.5\npark\tcity\t6\n")
    broken = tmp_path / "broken.tsv"
    broken.write_text("dog\tpuppy\tpizza\ncat\tkitten\n", encoding="utf-8")
    return {"triplets": triplets, "pairs": pairs, "broken": broken}


def specs_for(files: dict[str, Path]) -> list[dict[str, Any]]:
    return [
        {
            "name": "topic-triplets",
            "kind": "triplets",
            "path": str(files["triplets"]),
            "options": {"bootstrap": 50},
        },
        {"name": "topic-pairs", "kind": "similarity", "path": str(files["pairs"])},
    ]


@pytest.mark.slow
def test_evaluation_run_end_to_end(
    artifacts: Artifacts, migrated_database_url: str, benchmark_files: dict[str, Path]
) -> None:
    specs = specs_for(benchmark_files)
    app = create_app(make_settings(artifacts, migrated_database_url))
    with TestClient(app) as c:
        r = c.post("/v1/admin/evaluations", json={"benchmarks": specs}, headers=AUTH)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        run = poll(c, r.json()["id"])
        assert run["status"] == "succeeded", run
        assert run["seen"][-1] == "succeeded" and set(run["seen"]) <= {"queued", "running", "succeeded"}
        assert run["started_at"] and run["finished_at"] and run["error"] is None
        assert c.get("/v1/info").json()["latest_evaluation"]["id"] == run["id"]
        metrics = c.get("/metrics").text
        assert 'mmwe_evaluation_runs{status="succeeded"} 1.0' in metrics

        default = c.post("/v1/admin/evaluations", json={"suite": "default"}, headers=AUTH)
        assert default.status_code == 202
        default_run = poll(c, default.json()["id"])
        assert default_run["status"] == "succeeded", default_run["error"]

    # The same numbers as the CLI evaluation (`python -m evaluation evaluate`) of the served embeddings.
    suite_file = benchmark_files["triplets"].parent / "suite.json"
    suite_file.write_text(json.dumps({"name": "topics", "benchmarks": specs}))
    for service_run, suite in ((run, str(suite_file)), (default_run, "default")):
        cli = cli_evaluate(artifacts.index / "embeddings", suite)
        assert [b["name"] for b in cli["benchmarks"]] == [b["benchmark"] for b in service_run["results"]]
        for expected, got in zip(cli["benchmarks"], service_run["results"], strict=True):
            assert got["metrics"] == expected["metrics"] and got["counts"] == expected["counts"]
            assert got["dataset_sha256"] == expected["sha256"] and got["options"] == expected["options"]
    assert run["results"][0]["metrics"]["accuracy"] > 0.5

    # ... stored in the database, with the served artifacts registered.
    engine = make_engine(migrated_database_url)
    with make_sessionmaker(engine)() as s:
        stored = s.get(EvaluationRun, run["id"])
        assert stored is not None and stored.status is RunStatus.succeeded and stored.artifact is not None
        assert stored.artifact.kind is ArtifactKind.embeddings and stored.artifact.model_kind == "word2vec"
        assert {r.benchmark for r in stored.results} == {"topic-triplets", "topic-pairs"}
        kinds = sorted(a.kind.value for a in s.scalars(sa.select(Artifact)))
        assert kinds == ["embeddings", "index"]  # registered once, reused by the second run
    engine.dispose()


def test_failed_run_records_the_error(
    artifacts: Artifacts, migrated_database_url: str, benchmark_files: dict[str, Path]
) -> None:
    app = create_app(make_settings(artifacts, migrated_database_url))
    spec = {"name": "broken", "kind": "triplets", "path": str(benchmark_files["broken"])}
    with TestClient(app) as c:
        r = c.post("/v1/admin/evaluations", json={"benchmarks": [spec]}, headers=AUTH)
        run = poll(c, r.json()["id"])
    assert run["status"] == "failed" and run["results"] == []
    assert "broken.tsv" in run["error"] and "line 2" in run["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"suite": "no-such-suite"},
        {},
        {"suite": "default", "benchmarks": []},
        {"benchmarks": []},
        {"benchmarks": [{"name": "x", "kind": "triplets", "path": "nonexistent/file.tsv"}]},
        {"benchmarks": [{"name": "x", "kind": "sorting", "path": "/etc/hostname"}]},
        {"benchmarks": [{"name": "x", "kind": "triplets", "path": "/etc/hostname", "options": {"bogus": 1}}]},
        {
            "benchmarks": [
                {"name": "x", "kind": "triplets", "path": "/etc/hostname", "options": {"bootstrap": 10**9}}
            ]
        },
        {"benchmarks": [{"name": "x", "kind": "triplets", "path": "/etc/hostname"}] * 2},
        {"suite": "default", "priority": "high"},
    ],
)
def test_bad_evaluation_requests_are_refused(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/v1/admin/evaluations", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert client.get("/v1/evaluations").json()["total"] == 0


def test_a_restart_fails_runs_without_a_heartbeat_and_runs_the_queue(
    artifacts: Artifacts, migrated_database_url: str
) -> None:
    """Liveness is the heartbeat, not the launch: a run whose heartbeat stopped is failed, a run another
    replica keeps alive is left alone, and queued runs survive the restart and run."""
    engine = make_engine(migrated_database_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        artifact = store.register_served(s, PhraseSearcher.load(artifacts.index))
        s.commit()
        dead = store.create_run(s, {"suite": "similarity"}, artifact, "previous-launch:12345", "admin")
        alive = store.create_run(s, {"suite": "similarity"}, artifact, "other-replica:1", "admin")
        queued = store.create_run(s, {"suite": "similarity"}, artifact, "previous-launch:12345", "admin")
        assert store.claim_next(s, "previous-launch:12345", max_running=5) == dead.id
        assert store.claim_next(s, "other-replica:1", max_running=5) == alive.id
        s.execute(
            sa.update(EvaluationRun)
            .where(EvaluationRun.id == dead.id)
            .values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )
        s.commit()
    settings = make_settings(artifacts, migrated_database_url, eval_max_running=2, eval_poll_seconds=0.1)
    with TestClient(create_app(settings)) as c:
        done = poll(c, queued.id)
        got = {i: c.get(f"/v1/evaluations/{i}", headers=AUTH).json() for i in (dead.id, alive.id)}
    assert done["status"] == "succeeded", done
    assert got[dead.id]["status"] == "failed" and "heartbeat" in got[dead.id]["error"]
    assert got[alive.id]["status"] == "running"  # another replica's run, heartbeat fresh
    with factory() as s:
        assert store.finish_failed(s, alive.id, "cleanup")
        assert not store.finish_failed(s, alive.id, "twice")  # finished exactly once
    engine.dispose()


def test_listing_is_paginated_newest_first(artifacts: Artifacts, migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        artifact = store.register_served(s, PhraseSearcher.load(artifacts.index))
        s.commit()
        ids = [store.create_run(s, {"suite": "default"}, artifact, "x:1", "admin").id for _ in range(5)]
        assert store.claim_next(s, "x:1") == ids[0]
        from app.evaluations.store import ResultRow

        store.finish_succeeded(
            s, ids[0], [ResultRow("b", "triplets", {"metrics": {"accuracy": 0.75}}, "f" * 64)]
        )
        for run_id in ids[1:]:  # not left queued: the app would run them
            store.finish_failed(s, run_id, "not run")
    app = create_app(make_settings(artifacts, migrated_database_url, launch_id="x"))
    with TestClient(app) as c:
        page = c.get("/v1/evaluations", params={"limit": 2, "offset": 1}).json()
        assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
        assert [r["id"] for r in page["items"]] == [ids[3], ids[2]]
        last = c.get("/v1/evaluations", params={"limit": 2, "offset": 4}).json()["items"]
        assert [r["id"] for r in last] == [ids[0]]
        assert last[0]["results"][0]["metrics"] == {"accuracy": 0.75}
        assert c.get("/v1/evaluations", params={"limit": 0}).status_code == 422
        assert c.get("/v1/evaluations", params={"limit": 101}).status_code == 422
        assert c.get("/v1/evaluations/999999").status_code == 404
        assert c.get("/v1/evaluations/0").status_code == 404
        assert c.get("/v1/evaluations/abc").status_code == 422
    with factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(EvaluationResult)) == 1
    engine.dispose()


PRIORITY_PROBE = """
import os, sys, threading
import app.evaluations.worker as worker
heavy = sorted(m for m in ("numpy", "faiss", "sqlalchemy", "pydantic", "index") if m in sys.modules)
before = os.getpriority(os.PRIO_PROCESS, 0)
worker.lower_priority(5)
seen = {}
def probe():
    seen.update(policy=os.sched_getscheduler(0), nice=os.getpriority(os.PRIO_PROCESS, 0))
t = threading.Thread(target=probe)
t.start(); t.join()
idle = getattr(os, "SCHED_IDLE", None)
print(heavy, seen["nice"] - before, seen["policy"] == idle or idle is None)
"""


def test_worker_lowers_its_priority_before_importing_anything_heavy() -> None:
    """The evaluation process imports only the stdlib before it drops to SCHED_IDLE + nice (a thread started
    afterwards inherits both), so the ~1 s of imports does not compete with query traffic."""
    out = subprocess.run(
        [sys.executable, "-c", PRIORITY_PROBE], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert out == ["[]", "5", "True"], out


ISOLATION_PROBE = """
import json, os, sys
import app.evaluations.worker as worker
worker.isolate(sys.argv[1] or None)
import faiss, numpy as np
a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
_ = a @ a  # BLAS: starts its thread pool here unless limited to one thread
index = faiss.IndexFlatIP(512)
index.add(a)
index.search(a, 5)  # OpenMP: parallel over queries unless limited
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "threads": int(status["Threads"]),
    "cpus_allowed_list": status["Cpus_allowed_list"].strip(),
    "affinity": sorted(os.sched_getaffinity(0)),
    "omp": faiss.omp_get_max_threads(),
    "hugepage": os.environ.get("NUMPY_MADVISE_HUGEPAGE"),
}))
"""


def isolation_probe(cpus: str) -> tuple[dict[str, Any], str]:
    res = subprocess.run(
        [sys.executable, "-c", ISOLATION_PROBE, cpus], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(res.stdout), res.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status (Linux)")
def test_evaluation_process_computes_on_one_thread_and_the_cpus_it_is_given() -> None:
    """A real process set up as the evaluation worker, then numpy and FAISS at work: one thread in all
    (BLAS and OpenMP would each add threads on a multi-core machine), huge pages off, and with MMWE_EVAL_CPUS
    the kernel's affinity of the process is that list."""
    import os

    available = sorted(os.sched_getaffinity(0))
    free, _ = isolation_probe("")
    assert free["threads"] == 1 and free["omp"] == 1 and free["hugepage"] == "0", free
    assert free["affinity"] == available, free
    pinned, _ = isolation_probe(str(available[-1]))
    assert pinned["affinity"] == [available[-1]], pinned
    assert pinned["cpus_allowed_list"] == str(available[-1]), pinned
    assert pinned["threads"] == 1, pinned
    unknown, err = isolation_probe("4095")  # no such CPU: left as it was, said on stderr
    assert unknown["affinity"] == available and "MMWE_EVAL_CPUS='4095' not applied" in err, (unknown, err)


def test_eval_cpus_is_validated_at_start() -> None:
    from pydantic import ValidationError

    from app.evaluations.worker import parse_cpus
    from app.settings import Settings

    assert parse_cpus("0-2,5") == {0, 1, 2, 5} and parse_cpus("1") == {1}
    assert Settings(eval_cpus=" 1 ").eval_cpus == "1" and Settings(eval_cpus="").eval_cpus is None
    for bad in ("a", "3-1", "-1", ","):
        with pytest.raises(ValidationError, match="eval_cpus"):
            Settings(eval_cpus=bad)
