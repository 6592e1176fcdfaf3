"""CPU per `GET /v1/related` request inside the app: the ASGI app called directly (uvloop, no HTTP server).

    python bench/request_cpu.py --index data/bench/index-1000000 --phrases data/bench/phrases-1000000.tsv

Everything the app does per request (middleware, routing, validation, the search, the JSON) without uvicorn,
the network and the load generator, so the figure moves little with other load on the machine. Process CPU
time (all threads, so a search in the pool counts) over --requests requests, after 500 of warm-up, in
--rounds rounds; prints JSON with the median and minimum per request. Uses a throw-away SQLite database and
Prometheus directory (as `python -m app serve` does).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def get(app: Any, query_string: bytes) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/related",
        "raw_path": b"/v1/related",
        "root_path": "",
        "query_string": query_string,
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"status {sent[0]['status']}: {sent[1].get('body', b'')[:200]!r}")
    return bytes(sent[1]["body"])


async def measure(args: argparse.Namespace, queries: list[bytes]) -> dict[str, Any]:
    from app.main import create_app

    app = create_app()
    per_request: list[float] = []
    async with app.router.lifespan_context(app):
        for q in queries[:500]:
            await get(app, q)
        for _ in range(args.rounds):
            start = time.process_time()
            for i in range(args.requests):
                await get(app, queries[i % len(queries)])
            per_request.append((time.process_time() - start) / args.requests * 1e6)
    return {
        "cpu_us_per_request_median": round(statistics.median(per_request), 1),
        "cpu_us_per_request_min": round(min(per_request), 1),
        "rounds": [round(x, 1) for x in per_request],
        "requests_per_round": args.requests,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, required=True, help="index directory to serve")
    p.add_argument("--phrases", type=Path, required=True, help="phrase list (phrase<TAB>count) to query from")
    p.add_argument("--requests", type=int, default=3000, help="requests per round (default 3000)")
    p.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--seed", type=int, default=3, help="seed of the query sample")
    args = p.parse_args()
    with open(args.phrases, encoding="utf-8") as f:
        phrases = [line.split("\t")[0] for line in f]
    rng = np.random.default_rng(args.seed)
    sample = [phrases[i] for i in rng.choice(len(phrases), min(1000, len(phrases)), replace=False)]
    queries = [f"k=10&q={q.replace(' ', '+')}".encode() for q in sample]
    with tempfile.TemporaryDirectory(prefix="mmwe-request-cpu-") as tmp:
        os.environ.update(
            MMWE_INDEX_DIR=str(args.index),
            MMWE_DATA_DIR=tmp,
            DATABASE_URL=f"sqlite:///{tmp}/bench.db",
            MMWE_LOG_LEVEL="warning",
            PROMETHEUS_MULTIPROC_DIR=str(Path(tmp) / "prometheus"),
        )
        (Path(tmp) / "prometheus").mkdir()
        from app.db.migrate import upgrade

        upgrade(os.environ["DATABASE_URL"])
        import uvloop

        print(json.dumps(uvloop.run(measure(args, queries)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
