"""Fault injection, evaluations (issue 14, items 7 and 8): real `python -m app serve` with 2 workers, real
SQLite and PostgreSQL, processes killed on purpose.

- 7: the artifact volume is not writable (compose mounts /data read-only): runs still run (the database is
  the queue); two launches sharing one PostgreSQL run each queued run exactly once, one at a time.
- 8: a worker killed with SIGKILL takes its evaluation process with it (PR_SET_PDEATHSIG) and its run is
  failed by heartbeat; a run past MMWE_EVAL_TIMEOUT_S is killed and failed.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.conftest import AUTH, Artifacts, LiveServer, serve, wait_for

pytestmark = pytest.mark.slow  # starts uvicorn worker processes and evaluation processes


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def post_run(server: LiveServer, body: dict[str, Any]) -> int:
    with httpx.Client(timeout=30) as c:
        r = c.post(server.url + "/v1/admin/evaluations", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def get_run(server: LiveServer, run_id: int) -> dict[str, Any]:
    with httpx.Client(timeout=10) as c:
        body: dict[str, Any] = c.get(f"{server.url}/v1/evaluations/{run_id}", headers=AUTH).json()
    return body


def wait_finished(server: LiveServer, ids: list[int], timeout: float = 180) -> list[dict[str, Any]]:
    wait_for(
        lambda: all(get_run(server, i)["status"] in ("succeeded", "failed") for i in ids),
        timeout=timeout,
        interval=0.3,
    )
    return [get_run(server, i) for i in ids]


def big_triplets(path: Path, lines: int = 400_000) -> Path:
    """A benchmark file large enough that evaluating it takes seconds at idle priority."""
    rows = ["dog\tpuppy\tpizza", "cat\tkitten\tblue", "pizza\tburger\thorse", "red\torange\tbeach"]
    path.write_text("base\tpositive\tnegative\n" + "\n".join(rows * (lines // 4)) + "\n", encoding="utf-8")
    return path


def test_runs_run_when_the_artifact_volume_is_read_only(artifacts: Artifacts, tmp_path: Path) -> None:
    """Item 7: the data dir cannot be written (here: its parent is a file, so nothing can be created under
    it); runs used to stay `queued` forever (the lock file could not be created)."""
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    with serve(
        artifacts, tmp_path, url, MMWE_DATA_DIR=str(blocker / "data"), MMWE_EVAL_POLL_SECONDS="0.2"
    ) as s:
        run = wait_finished(s, [post_run(s, {"suite": "similarity"})], timeout=120)[0]
    assert run["status"] == "succeeded", run


@pytest.mark.postgres
def test_two_launches_sharing_postgresql_run_each_run_exactly_once(
    artifacts: Artifacts, tmp_path: Path, migrated_postgres_url: str
) -> None:
    """Item 7/8: replicas share the queue. Launch B starts while launch A's runs are queued or running: it
    must not fail them ("not my launch"), and no run executes twice or beside another."""
    env = {"MMWE_EVAL_POLL_SECONDS": "0.2", "MMWE_EVAL_HEARTBEAT_S": "0.5"}
    with serve(artifacts, tmp_path, migrated_postgres_url, **env) as a:
        ids = [post_run(a, {"suite": "similarity"}) for _ in range(2)]
        with serve(artifacts, tmp_path, migrated_postgres_url, workers=1, **env) as b:
            ids += [post_run(b, {"suite": "similarity"})]
            runs = wait_finished(b, ids, timeout=600)
    for run in runs:
        assert run["status"] == "succeeded", run
        assert [r["benchmark"] for r in run["results"]] == ["ws353", "simlex999"]  # one set: ran once
    spans = sorted(
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in runs
    )
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start  # one at a time (MMWE_EVAL_MAX_RUNNING=1) across both launches


def test_a_killed_worker_takes_its_evaluation_with_it(artifacts: Artifacts, tmp_path: Path) -> None:
    """Item 8: SIGKILL the worker supervising an evaluation: the evaluation process dies at once (it used to
    run on for a minute), and the run is failed by heartbeat within the grace period."""
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    bench = big_triplets(tmp_path / "big.tsv")
    env = {
        "MMWE_EVAL_POLL_SECONDS": "0.2",
        "MMWE_EVAL_HEARTBEAT_S": "0.5",
        "MMWE_EVAL_HEARTBEAT_GRACE_S": "3",
        "MMWE_BENCHMARK_DIRS": str(tmp_path),
    }
    with serve(artifacts, tmp_path, url, **env) as s:
        run_id = post_run(s, {"benchmarks": [{"name": "big", "kind": "triplets", "path": str(bench)}]})
        found: dict[str, int] = {}

        def evaluation_started() -> bool:
            for worker in children(s.proc.pid):
                for child in children(worker):
                    if "app.evaluations.worker" in cmdline(child):
                        found.update(worker=worker, child=child)
                        return True
            return False

        wait_for(evaluation_started, timeout=60, interval=0.05)
        os.kill(found["worker"], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: not alive(found["child"]), timeout=10, interval=0.05)
        assert time.monotonic() - killed_at < 5
        run = wait_finished(s, [run_id], timeout=60)[0]
    assert run["status"] == "failed" and "heartbeat" in run["error"], run


def test_a_run_past_its_timeout_is_killed_and_failed(artifacts: Artifacts, tmp_path: Path) -> None:
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    bench = big_triplets(tmp_path / "big.tsv", lines=1_200_000)  # seconds even on an idle, fast machine
    env = {
        "MMWE_EVAL_POLL_SECONDS": "0.2",
        "MMWE_EVAL_TIMEOUT_S": "0.5",
        "MMWE_EVAL_HEARTBEAT_S": "0.2",
        "MMWE_BENCHMARK_DIRS": str(tmp_path),
    }
    with serve(artifacts, tmp_path, url, **env) as s:
        run_id = post_run(s, {"benchmarks": [{"name": "big", "kind": "triplets", "path": str(bench)}]})
        run = wait_finished(s, [run_id], timeout=60)[0]
        assert run["status"] == "failed" and "timed out" in run["error"], run
        leftovers = [
            c for w in children(s.proc.pid) for c in children(w) if "app.evaluations.worker" in cmdline(c)
        ]
        assert leftovers == []
