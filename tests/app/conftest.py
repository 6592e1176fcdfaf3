"""Fixtures for the service tests: small real indexes built through the real builder, apps, live servers.

Word vectors are deterministic: each word sits near its topic's centroid (seeded noise), so neighbours are
predictable (dog ~ puppy, pizza ~ burger). Indexes are built with `index.build.build_index`, the code behind
`python -m index build`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from index.artifacts import write_embeddings
from index.build import BuildConfig, build_index

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-admin-token"

TOPICS = {
    "animals": ["dog", "puppy", "hound", "cat", "kitten", "pony", "horse"],
    "food": ["pizza", "burger", "sandwich", "salad", "soup", "bread", "hot"],
    "colours": ["red", "blue", "green", "yellow", "orange", "purple", "brown"],
    "places": ["beach", "park", "street", "mountain", "river", "city", "forest"],
}
PHRASES = [
    "hot dog",
    "brown dog",
    "puppy dog",
    "black cat",
    "red pizza",
    "green salad",
    "city park",
    "river beach",
    "dog park",
    "horse river",
    "blue river",
    "orange soup",
    "brown bread",
    "hot soup",
    "mountain forest",
    "yellow pony",
    "kitten cat",
    "street food",
]
EXTRA_PHRASES = ["purple horse", "city street", "forest river", "pizza burger"]


def word_vectors(dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words, rows = [], []
    for centroid, members in zip(rng.standard_normal((len(TOPICS), dim)), TOPICS.values(), strict=True):
        for w in members:
            words.append(w)
            rows.append(centroid + 0.35 * rng.standard_normal(dim))
    return words, np.asarray(rows, dtype=np.float32)


@dataclass(frozen=True)
class Artifacts:
    embeddings: Path
    index: Path  # Flat (exact)
    index_hnsw: Path  # HNSW with more phrases (EXTRA_PHRASES), for reload tests
    root: Path


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    root = tmp_path_factory.mktemp("artifacts")
    words, vectors = word_vectors()
    emb = root / "embeddings"
    write_embeddings(
        emb,
        words,
        list(range(100, 100 + len(words))),
        vectors,
        model_kind="word2vec",
        corpus={"name": "test-topics", "num_sentences": 0, "num_tokens": 0},
        training={"test": True},
        metrics={"loss": 1.0},
        seed=0,
    )
    phrases = root / "phrases.txt"
    phrases.write_text("\n".join(words + PHRASES) + "\n", encoding="utf-8")
    more = root / "more.txt"
    more.write_text("\n".join(words + PHRASES + EXTRA_PHRASES) + "\n", encoding="utf-8")
    build_index(
        emb, root / "index-flat", phrase_files=[phrases], config=BuildConfig(factory="Flat", progress=False)
    )
    build_index(
        emb,
        root / "index-hnsw",
        phrase_files=[more],
        config=BuildConfig(factory="HNSW8", num_queries=10, progress=False),
    )
    return Artifacts(embeddings=emb, index=root / "index-flat", index_hnsw=root / "index-hnsw", root=root)


def make_settings(artifacts: Artifacts, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "index_dir": artifacts.index,
        "data_dir": artifacts.root,
        "database_url": database_url,
        "admin_token": TOKEN,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    return url


@pytest.fixture
def app(artifacts: Artifacts, sqlite_url: str) -> FastAPI:
    return create_app(make_settings(artifacts, sqlite_url))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(predicate: object, timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# --- a real server: `python -m app serve` on a free port ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def serve(
    artifacts: Artifacts,
    tmp_path: Path,
    database_url: str,
    workers: int = 2,
    port: int | None = None,
    **env_overrides: str,
) -> Iterator[LiveServer]:
    """`python -m app serve --workers N` on `port` (default: a free one), ready (`/readyz` 200 unless
    MMWE_TEST_NOT_READY is given) on exit of the `with`: terminated, killed if it hangs."""
    port = port or free_port()
    env = dict(
        os.environ,
        MMWE_INDEX_DIR=str(artifacts.index),
        MMWE_DATA_DIR=str(artifacts.root),
        DATABASE_URL=database_url,
        MMWE_ADMIN_TOKEN=TOKEN,
        MMWE_RELOAD_POLL_SECONDS="0.2",
        MMWE_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    for key in ("MMWE_RELOAD_FILE", "PROMETHEUS_MULTIPROC_DIR", "MMWE_WORKERS"):
        env.pop(key, None)
    expect_ready = env_overrides.pop("MMWE_TEST_NOT_READY", None) is None
    env.update(env_overrides)
    log = tmp_path / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        last: list[str] = ["no answer"]

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}")
            try:
                r = httpx.get(url + "/readyz", timeout=15)
            except httpx.HTTPError as exc:
                last[0] = repr(exc)
                return False
            last[0] = r.text
            return r.status_code == 200 or not expect_ready

        try:
            wait_for(up, timeout=300, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"server not ready: {last[0]}; log: {log.read_text()[-3000:]}") from exc
        yield LiveServer(url=url, proc=proc, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def live_server(artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Two uvicorn workers serving the Flat index, SQLite, admin token set, reload polling every 0.2 s.

    Shared by a module's tests (start-up takes seconds): a test that reloads must restore the Flat index.
    """
    from app.db.migrate import upgrade

    tmp_path = tmp_path_factory.mktemp("live")
    sqlite_url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(sqlite_url)
    with serve(artifacts, tmp_path, sqlite_url) as server:
        yield server


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def fast_and_route(
    artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one index: with the `GET /v1/related` fast path, and answering by the route only."""
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fast-and-route') / 'app.db'}"
    upgrade(url)
    fast = create_app(make_settings(artifacts, url, fast_path=True))
    slow = create_app(make_settings(artifacts, url, fast_path=False))
    with (
        TestClient(fast, raise_server_exceptions=False) as f,
        TestClient(slow, raise_server_exceptions=False) as s,
    ):
        yield f, s
