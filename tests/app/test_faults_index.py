"""Fault injection, the served index (issue 14, items 9, 10, 11): files corrupted on purpose under a real
`python -m app serve --workers 2`, and malformed manifests at start-up and on reload.

- 9: a worker reports a generation only once loaded; a failed follow-up load shows in /readyz and /metrics
  (`mmwe_index_generation{worker}`) and is retried; the admin reload answers once every worker has it.
- 10: truncating the served index.faiss in place, then killing a worker, never takes the service down; a new
  launch whose index is corrupt serves the last index that loaded.
- 11: a malformed manifest is an ArtifactError: 503 with the reason at start (no crash), 422 on reload.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import AUTH, Artifacts, LiveServer, make_settings, serve, wait_for


def fresh_get(url: str, **params: Any) -> httpx.Response:
    with httpx.Client(timeout=15) as c:  # a new connection: either worker may answer
        return c.get(url, params=params)


def generations(server: LiveServer) -> dict[str, float]:
    text = fresh_get(server.url + "/metrics").text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^mmwe_index_generation\{worker="(\d+)"\} (\S+)$', text, re.M)
    }


def live_workers(server: LiveServer) -> set[str]:
    from tests.app.test_faults_evaluations import alive, children, cmdline

    return {
        str(pid)
        for pid in children(server.proc.pid)
        if alive(pid) and "multiprocessing.spawn" in cmdline(pid)  # not the resource tracker
    }


@pytest.mark.slow
def test_a_failed_follow_shows_in_readyz_and_metrics_and_is_retried(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str
) -> None:
    """Item 9: the launch's reload record names a generation a worker cannot load (here: a directory that
    does not exist yet). Workers used to report the new generation and stay ready; now /readyz is 503 saying
    why, /metrics shows each worker still at its loaded generation, and once the index appears the workers
    load it (retried with backoff) and become ready."""
    reload_file = tmp_path / "launch" / "reload.json"
    with serve(artifacts, tmp_path, sqlite_url, MMWE_RELOAD_FILE=str(reload_file)) as s:
        target = tmp_path / "later-index"
        reload_file.write_text(json.dumps({"generation": 7, "index_dir": str(target)}))

        seen: dict[str, object] = {}

        def both_behind() -> bool:
            r = fresh_get(s.url + "/readyz")
            gens = generations(s)
            workers = live_workers(s)
            seen.update(readyz=(r.status_code, r.text[:300]), generations=gens, workers=workers)
            return (
                r.status_code == 503
                and "generation 7" in (r.json()["index"]["detail"] or "")
                and workers <= set(gens)
                and all(gens[w] < 7 for w in workers)  # 0, or -1 for a worker (re)started meanwhile
            )

        try:
            wait_for(both_behind, timeout=30, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}") from exc
        assert fresh_get(s.url + "/v1/related", q="dog", k=3).status_code == 200  # still serving the old one
        shutil.copytree(artifacts.index, target)

        def both_caught_up() -> bool:
            gens = generations(s)
            workers = live_workers(s)
            return workers <= set(gens) and all(gens[w] == 7 for w in workers)

        wait_for(both_caught_up, timeout=60, interval=0.3)
        wait_for(lambda: fresh_get(s.url + "/readyz").status_code == 200, timeout=10, interval=0.1)


@pytest.mark.slow
def test_admin_reload_answers_when_every_worker_has_the_new_index(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str
) -> None:
    with (
        serve(artifacts, tmp_path, sqlite_url, MMWE_INDEX_ROOTS=str(tmp_path)) as s,
        httpx.Client(timeout=60) as c,
    ):
        r = c.post(s.url + "/v1/admin/reload", json={"index_dir": str(artifacts.index_hnsw)}, headers=AUTH)
        assert r.status_code == 200, r.text
        workers = r.json()["workers"]
        assert len(workers) == 2 and all(w["generation"] == 1 and w["error"] is None for w in workers)
        assert {str(w["pid"]) for w in workers} == live_workers(s)
        bad = tmp_path / "corrupt"
        shutil.copytree(artifacts.index, bad)
        (bad / "index.faiss").write_bytes(b"not an index")
        r = c.post(s.url + "/v1/admin/reload", json={"index_dir": str(bad)}, headers=AUTH)
        assert r.status_code == 422 and "index.faiss" in r.json()["error"]["message"]
        assert set(generations(s).values()) == {1.0}  # nobody moved


@pytest.mark.slow
def test_truncating_the_served_index_in_place_never_takes_the_service_down(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str
) -> None:
    """Item 10: the served files are truncated in place, then a worker is killed (SIGKILL): queries keep
    answering (workers serve a verified private copy), and the restarted worker loads that copy."""
    served = tmp_path / "served"
    shutil.copytree(artifacts.index, served)
    with serve(artifacts, tmp_path, sqlite_url, MMWE_INDEX_DIR=str(served)) as s:
        for name in ("index.faiss", "phrases.tsv", "embeddings/vectors.npy"):
            with open(served / name, "r+b") as f:
                f.truncate(16)
        for _ in range(20):
            assert fresh_get(s.url + "/v1/related", q="puppy", k=3).status_code == 200
        before = live_workers(s)
        os.kill(int(sorted(before)[0]), signal.SIGKILL)
        wait_for(lambda: len(live_workers(s)) == 2 and live_workers(s) != before, timeout=60, interval=0.2)
        wait_for(lambda: fresh_get(s.url + "/readyz").status_code == 200, timeout=60, interval=0.2)
        for _ in range(20):
            r = fresh_get(s.url + "/v1/related", q="puppy", k=3)
            assert r.status_code == 200 and len(r.json()["results"]) == 3
            assert fresh_get(s.url + "/readyz").status_code == 200


def test_a_new_launch_with_a_corrupt_index_serves_the_last_good_one(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str
) -> None:
    served = tmp_path / "served"
    shutil.copytree(artifacts.index, served)
    settings = dict(index_dir=served, snapshot_dir=tmp_path / "snapshots")
    with TestClient(create_app(make_settings(artifacts, sqlite_url, **settings))) as c:
        assert c.get("/readyz").status_code == 200
    (served / "index.faiss").write_bytes(b"\0" * 64)  # same manifest, corrupt file
    (served / "manifest.json").write_text("{")  # and a corrupt manifest
    with TestClient(create_app(make_settings(artifacts, sqlite_url, **settings))) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert "last index that loaded" in ready.json()["index"]["detail"]
        assert "manifest.json" in ready.json()["index"]["detail"]
        assert c.get("/v1/related", params={"q": "puppy", "k": 3}).status_code == 200


def malformed(raw: dict[str, Any], how: str) -> Any:
    if how == "array":
        return [raw]
    if how == "files-list":
        return {**raw, "files": list(raw["files"])}
    if how == "dim-string":
        return {**raw, "dim": "16"}
    if how == "search-params-string":
        return {**raw, "search_params": "fast"}
    if how == "recall-number":
        return {**raw, "recall": 0.9}
    if how == "file-escapes":
        return {**raw, "files": {"../../etc/passwd": "0" * 64}}
    raise AssertionError(how)


MALFORMED = ["array", "files-list", "dim-string", "search-params-string", "recall-number", "file-escapes"]


@pytest.mark.parametrize("how", MALFORMED)
def test_a_malformed_manifest_is_503_at_start_and_422_on_reload(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str, how: str
) -> None:
    """Item 11: start-up used to crash (AttributeError/TypeError escaping the loader: a crash loop under
    `restart: unless-stopped`) and reload answered 500."""
    bad = tmp_path / "bad"
    shutil.copytree(artifacts.index, bad)
    raw = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps(malformed(raw, how)))
    with TestClient(create_app(make_settings(artifacts, sqlite_url, index_dir=bad))) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "manifest.json" in ready.json()["index"]["detail"], ready.text
        r = c.get("/v1/related", params={"q": "dog"})
        assert r.status_code == 503 and "manifest.json" in json.dumps(r.json())
    with TestClient(create_app(make_settings(artifacts, sqlite_url, index_roots=[tmp_path]))) as c:
        r = c.post("/v1/admin/reload", json={"index_dir": str(bad)}, headers=AUTH)
        assert r.status_code == 422 and "manifest.json" in r.json()["error"]["message"], r.text
        assert c.get("/readyz").status_code == 200
