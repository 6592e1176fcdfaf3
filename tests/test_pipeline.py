"""The whole product end to end through its CLIs: prepare, train, index build, DB upgrade, serve, query.

Small real captions (Flickr8k-style, written here), real subprocesses, real uvicorn over HTTP.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from index.ranking import DEFAULT_POPULARITY

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = [
    "a black dog is running across the green grass",
    "a brown dog plays with a red ball in the park",
    "two dogs chase each other on the sandy beach",
    "a little girl in a pink dress is climbing the stairs",
    "a girl is sitting on a wooden bench in the park",
    "a man rides a red bicycle down the busy street",
    "a man on a bike jumps over a dirt hill",
    "a cat sleeps on a soft blue blanket",
    "a small cat looks out of the kitchen window",
    "a boy in a red shirt kicks a soccer ball",
]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("gensim")
    tmp = tmp_path_factory.mktemp("pipeline")
    records = tmp / "records.jsonl"
    with open(records, "w", encoding="utf-8") as f:
        for i in range(40):  # 40 images, each with 5 captions drawn from the list
            sentences = [CAPTIONS[(i + j) % len(CAPTIONS)] for j in range(5)]
            f.write(json.dumps({"image": None, "id": f"img{i}", "sentences": sentences}) + "\n")
    env = {**os.environ, "MMWE_DATA_DIR": str(tmp / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    corpus, emb, index = tmp / "corpus", tmp / "emb", tmp / "index"
    run(
        "-m",
        "training",
        "prepare",
        "--jsonl",
        str(records),
        "--out",
        str(corpus),
        "--min-count",
        "1",
        "--quiet",
        env=env,
    )
    run(
        "-m",
        "training",
        "word2vec",
        "--corpus",
        str(corpus),
        "--out",
        str(emb),
        "--dim",
        "16",
        "--epochs",
        "3",
        "--workers",
        "1",
        env=env,
    )
    run(
        "-m",
        "index",
        "build",
        "--embeddings",
        str(emb),
        "--corpus",
        str(corpus),
        "--out",
        str(index),
        "--factory",
        "Flat",
        "--min-count",
        "2",
        "--no-progress",
        env=env,
    )
    run("-m", "app", "db", "upgrade", env=env)
    return {"corpus": corpus, "emb": emb, "index": index, "data": tmp / "data", "env": env}  # type: ignore[dict-item]


def test_cli_pipeline_serves_related_phrases(pipeline: dict) -> None:
    env = {**pipeline["env"], "MMWE_INDEX_DIR": str(pipeline["index"]), "MMWE_PORT": str(free_port())}
    assert (pipeline["data"] / "mmwe.db").is_file()
    manifest = json.loads((pipeline["index"] / "manifest.json").read_text())
    assert manifest["format"] == "mmwe.index" and manifest["num_phrases"] > 20
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{env['MMWE_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        r = httpx.get(f"{base}/v1/related", params={"q": "dog", "k": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["query"] == "dog" and len(body["results"]) == 5
        assert all(h["phrase"] != "dog" for h in body["results"])
        scores = [h["score"] for h in body["results"]]  # raw cosines, ordered by the default ranking
        ranks = [h["score"] + DEFAULT_POPULARITY * math.log1p(h["count"]) for h in body["results"]]
        assert ranks == sorted(ranks, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in scores)
        assert body["served_by"]["model_kind"] == "word2vec"
        bad = httpx.get(f"{base}/v1/related", params={"q": "qwertyuiop"})
        assert bad.status_code == 422 and bad.json()["error"]["code"]
    finally:
        server.terminate()
        server.wait(timeout=20)
