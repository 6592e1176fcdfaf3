"""Closed-loop throughput of GET /v1/related: with and without the result cache, and against other commits.

    python bench/result_cache_bench.py --work data/bench --out bench/results/result_cache.json
    python bench/result_cache_bench.py --compare before=../mmwe-098c96a --rounds 3 --duration 15

Servers, each `python -m app serve --workers 2` (SQLite, `MMWE_LOG_LEVEL=warning`) on the synthetic
1M-phrase index of bench/load_bench.py (built there, cached under --work), all started before measuring:
`cache` (this checkout, the default MMWE_RESULT_CACHE), `no-cache` (this checkout, MMWE_RESULT_CACHE=0) and
each `--compare LABEL=CHECKOUT` (another commit's work tree, e.g. `git worktree add ../mmwe-098c96a 098c96a`,
served from its own code with its own database: the same index, machine and run).

Query streams (wrk's closed loop, 16 connections, one wrk thread):
- `cycle`: the 1,000 distinct phrases of bench/load_bench.py in a loop; after the first thousand every
  query repeats, so a cache answers nearly all of it (load_bench's figure).
- `zipf`: --stream draws from a Zipf law of exponent --zipf over --distinct phrases of the index (query logs
  are roughly Zipfian: a few head queries and a long tail seen once), so the cache's hit rate is what such a
  log would give; the hit rate is read from each server's /metrics.
Each round measures every (server, stream) pair once in the same order, after a 5-second warm-up per pair in
the first round; the medians over rounds are reported with every window kept. Prints JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import statistics
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
from bench.load_bench import add_index_args, build, log, server_cpu_seconds, start_server  # noqa: E402

RELATED = "/v1/related?k=10&q="
CACHE_METRIC = re.compile(r'^mmwe_related_cache_lookups_total\{outcome="(hit|miss)"\} ([0-9.e+]+)$', re.M)


def index_phrases(args: argparse.Namespace) -> list[str]:
    return [line.split("\t")[0] for line in (args.work / f"phrases-{args.num_phrases}.tsv").open()]


def cycle_stream(phrases: list[str], seed: int) -> list[str]:
    """load_bench's queries: 1,000 distinct phrases (the same draw as load_bench.sample_queries)."""
    rng = np.random.default_rng(seed + 3)
    return [phrases[i] for i in rng.choice(len(phrases), 1000, replace=False)]


def zipf_stream(phrases: list[str], distinct: int, length: int, exponent: float, seed: int) -> list[str]:
    """`length` draws from P(rank r) ~ 1 / r^exponent over `distinct` phrases of the index."""
    rng = np.random.default_rng(seed + 5)
    chosen = rng.choice(len(phrases), distinct, replace=False)
    weights = 1.0 / np.arange(1, distinct + 1) ** exponent
    draws = rng.choice(distinct, length, p=weights / weights.sum())
    return [phrases[chosen[i]] for i in draws]


def cache_lookups(base: str) -> dict[str, float]:
    """The server's result-cache lookups so far (all workers), by outcome; empty for a server without it."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {outcome: float(value) for outcome, value in CACHE_METRIC.findall(text)}


def hit_rate(before: dict[str, float], after: dict[str, float]) -> float | None:
    hits = after.get("hit", 0.0) - before.get("hit", 0.0)
    total = hits + after.get("miss", 0.0) - before.get("miss", 0.0)
    return round(hits / total, 4) if total else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_index_args(p, 1_000_000, "IVF4096,Flat")
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        help="LABEL=CHECKOUT: also serve another commit's work tree (repeatable)",
    )
    p.add_argument("--rounds", type=int, default=3, help="measurements of every pair (default 3)")
    p.add_argument("--duration", type=int, default=15, help="seconds per measurement (default 15)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    p.add_argument("--distinct", type=int, default=100_000, help="phrases the zipf stream draws from")
    p.add_argument("--stream", type=int, default=200_000, help="length of the zipf stream (default 200k)")
    p.add_argument("--zipf", type=float, default=1.0, help="exponent of the zipf stream (default 1.0)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print(wrk.MISSING, file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    index = build(args)
    phrases = index_phrases(args)
    streams = {
        "cycle": cycle_stream(phrases, args.seed),
        "zipf": zipf_stream(phrases, args.distinct, args.stream, args.zipf, args.seed),
    }
    configs: list[tuple[str, Path, dict[str, str]]] = [
        ("cache", ROOT, {}),
        ("no-cache", ROOT, {"MMWE_RESULT_CACHE": "0"}),
    ]
    for item in args.compare:
        label, _, checkout = item.partition("=")
        configs.append((label, Path(checkout).resolve(), {}))
    servers: dict[str, tuple[Any, str]] = {}
    windows: list[dict[str, Any]] = []
    try:
        for label, root, env in configs:
            log(f"starting {label} ({root})")
            db = f"sqlite:///{args.work / f'cache-bench-{label}.db'}"
            servers[label] = start_server(index, args.work, 2, db, root=root, extra_env=env)
        for round_no in range(args.rounds):
            for label, (proc, base) in servers.items():
                cpu = functools.partial(server_cpu_seconds, proc.pid)
                for name, queries in streams.items():
                    if round_no == 0:
                        wrk.closed_loop(base, RELATED, queries, args.connections, 5, 1, cpu)
                    log(f"round {round_no + 1}: {label}, {name}")
                    before = cache_lookups(base)
                    run = wrk.closed_loop(base, RELATED, queries, args.connections, args.duration, 1, cpu)
                    windows.append(
                        {
                            "round": round_no + 1,
                            "server": label,
                            "stream": name,
                            "cache_hit_rate": hit_rate(before, cache_lookups(base)),
                            **run,
                        }
                    )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(timeout=30)
    summary: dict[str, dict[str, Any]] = {}
    for label, _, _ in configs:
        for name in streams:
            mine = [w for w in windows if w["server"] == label and w["stream"] == name]
            rates = [w["cache_hit_rate"] for w in mine if w.get("cache_hit_rate") is not None]
            summary[f"{label}/{name}"] = {
                "req_per_s": statistics.median(w["req_per_s"] for w in mine),
                "server_cpu_us_per_request": statistics.median(w["server_cpu_us_per_request"] for w in mine),
                "cache_hit_rate": statistics.median(rates) if rates else None,
                "errors": sum(w["errors"] for w in mine),
            }
    result = {
        "index": str(index.name),
        "streams": {
            "cycle": "1,000 distinct, looped",
            "zipf": f"{args.stream:,} draws, s={args.zipf}, {args.distinct:,} distinct",
        },
        "servers": {label: {"checkout": str(root), "env": env} for label, root, env in configs},
        "summary": summary,
        "windows": windows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
