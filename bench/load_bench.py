"""Load test of the service: req/s and latency p50/p99 for GET /v1/related over a synthetic 1M-phrase index.

    python bench/load_bench.py                      # build the index once (cached), then measure; prints JSON
    python bench/load_bench.py --num-phrases 100000 # a smaller index
    python bench/load_bench.py --build-only

The index is built through the real builder (`python -m index build`, IVF4096,Flat with nprobe tuned to
recall@10 >= 0.95; --factory HNSW32 also works but takes ~10x longer to build) from synthetic clustered word
vectors: words are drawn around cluster centroids, phrases are 1-3 words mostly from one cluster, so related
phrases are real neighbours. The service runs as in production (`python -m app serve --workers 2`, SQLite),
and the load comes from wrk (Debian `wrk`; each connection cycles through 1,000 different queries):

1. baseline: /v1/related at --connections concurrent connections for --duration seconds;
2. generator overhead: wrk against /healthz (the fastest route) and wrk's own CPU time per request;
3. during evaluation: the same load while admin-triggered evaluation runs (a large synthetic triplet
   benchmark, in the service's niced evaluation process) are in progress; the p99 ratio to the baseline.

Targets (issue 7, 2 uvicorn workers, 16 connections): >= 1,500 req/s, p99 <= 10 ms, zero errors; p99 during
an evaluation within 2x of the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.artifacts import write_embeddings  # noqa: E402

TOKEN = "bench-admin-token"


def log(msg: str) -> None:
    print(f"[load_bench] {msg}", file=sys.stderr, flush=True)


# --- synthetic data -----------------------------------------------------------------------------------------


def make_embeddings(out: Path, num_words: int, dim: int, clusters: int, seed: int) -> list[list[str]]:
    """Clustered unit word vectors; returns the words of each cluster."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((clusters, dim)).astype(np.float32)
    assign = rng.integers(0, clusters, num_words)
    vectors = centroids[assign] + 0.6 * rng.standard_normal((num_words, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = [f"w{i}" for i in range(num_words)]
    counts = rng.integers(5, 10_000, num_words)
    write_embeddings(
        out,
        words,
        counts.tolist(),
        vectors,
        model_kind="synthetic",
        corpus={"name": "synthetic-clustered", "num_sentences": 0, "num_tokens": 0},
        training={"clusters": clusters, "noise": 0.6},
        metrics={},
        seed=seed,
    )
    members: list[list[str]] = [[] for _ in range(clusters)]
    for i, c in enumerate(assign.tolist()):
        members[c].append(words[i])
    return members


def make_phrases(path: Path, members: list[list[str]], num_words: int, num_phrases: int, seed: int) -> None:
    """All single words, then distinct 2-3 word phrases (80% within one cluster) up to num_phrases."""
    rng = np.random.default_rng(seed + 1)
    seen: set[str] = set()
    with open(path, "w", encoding="utf-8") as f:
        for i in range(num_words):
            seen.add(f"w{i}")
            f.write(f"w{i}\t{int(rng.integers(1, 1000))}\n")
        nonempty = [m for m in members if len(m) >= 3]
        while len(seen) < num_phrases:
            n = 2 + int(rng.random() < 0.4)
            if rng.random() < 0.8:
                group = nonempty[int(rng.integers(len(nonempty)))]
                words = [group[j] for j in rng.choice(len(group), n, replace=False)]
            else:
                words = [f"w{j}" for j in rng.choice(num_words, n, replace=False)]
            phrase = " ".join(words)
            if phrase not in seen:
                seen.add(phrase)
                f.write(f"{phrase}\t{int(rng.integers(1, 1000))}\n")


def make_triplets(path: Path, members: list[list[str]], n: int, seed: int) -> None:
    """A large triplet benchmark (base, positive from the base's cluster, negative from another)."""
    rng = np.random.default_rng(seed + 2)
    groups = [m for m in members if len(m) >= 2]
    with open(path, "w", encoding="utf-8") as f:
        f.write("base\tpositive\tnegative\n")
        for _ in range(n):
            g, h = rng.choice(len(groups), 2, replace=False)
            a, b = rng.choice(len(groups[g]), 2, replace=False)
            f.write(f"{groups[g][a]}\t{groups[g][b]}\t{groups[h][int(rng.integers(len(groups[h])))]}\n")


def build(args: argparse.Namespace) -> Path:
    index = args.work / f"index-{args.num_phrases}"
    if (index / "manifest.json").is_file():
        log(f"reusing {index}")
        return index
    emb = args.work / f"embeddings-{args.num_words}-{args.dim}"
    members = make_embeddings(emb, args.num_words, args.dim, args.clusters, args.seed)
    (args.work / "members.json").write_text(json.dumps(members))
    phrases = args.work / f"phrases-{args.num_phrases}.tsv"
    log(f"writing {args.num_phrases} phrases to {phrases}")
    make_phrases(phrases, members, args.num_words, args.num_phrases, args.seed)
    cmd = [
        sys.executable,
        "-m",
        "index",
        "build",
        "--embeddings",
        str(emb),
        "--phrases",
        str(phrases),
        "--out",
        str(index),
        "--factory",
        args.factory,
        "--threads",
        "2",
        "--no-progress",
    ]
    log("building: " + " ".join(cmd))
    started = time.perf_counter()
    subprocess.run(["nice", "-n", "10", *cmd], check=True, cwd=ROOT)
    log(f"built {index} in {time.perf_counter() - started:.0f} s")
    return index


# --- the service and the load -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start_server(index: Path, work: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        MMWE_INDEX_DIR=str(index),
        DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
        MMWE_ADMIN_TOKEN=TOKEN,
        MMWE_LOG_LEVEL="warning",
        MMWE_DATA_DIR=str(work),
    )
    subprocess.run(
        [sys.executable, "-m", "app", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if http("GET", base + "/readyz")[0] == 200:
                return proc, base
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("server not ready in 300 s")


LUA = """
local queries = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%s" .. queries[(i %% #queries) + 1])
end
"""


def parse_wrk(text: str) -> dict[str, Any]:
    def seconds(value: str, unit: str) -> float:
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["req_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        out[f"p{pct}_ms"] = round(seconds(m.group(1), m.group(2)) * 1e3, 3) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    sock = sum(int(g) for g in m.groups()) if m else 0
    out["errors"] = non2xx + sock
    return out


def server_cpu_seconds(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes (not evaluations)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        if b"app.evaluations.worker" not in cmdline:
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_wrk(
    base: str, path: str, queries: list[str], connections: int, duration: int, threads: int, server_pid: int
) -> dict[str, Any]:
    quoted = ",".join(json.dumps(q.replace(" ", "+")) for q in queries)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (quoted, path))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server_cpu_seconds(server_pid)
    res = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", f.name, base],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = server_cpu_seconds(server_pid) - server_before
    os.unlink(f.name)
    out = parse_wrk(res.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["generator_cpu_s"] = round(cpu, 2)
    out["generator_cpu_us_per_request"] = round(cpu / out["requests"] * 1e6, 1) if out["requests"] else None
    out["server_cpu_s"] = round(server_cpu, 2)
    out["server_cpu_us_per_request"] = (
        round(server_cpu / out["requests"] * 1e6, 1) if out["requests"] else None
    )
    out["connections"], out["duration_s"] = connections, duration
    out["load_average_1min"] = os.getloadavg()[0]
    return out


def measure(args: argparse.Namespace, index: Path) -> dict[str, Any]:
    members = json.loads((args.work / "members.json").read_text())
    rng = np.random.default_rng(args.seed + 3)
    phrases = [line.split("\t")[0] for line in (args.work / f"phrases-{args.num_phrases}.tsv").open()]
    queries = [phrases[i] for i in rng.choice(len(phrases), 1000, replace=False)]
    triplets = args.work / "triplets.tsv"
    if not triplets.is_file():
        make_triplets(triplets, members, args.triplets, args.seed)
    proc, base = start_server(index, args.work, args.workers)
    try:
        status, info = http("GET", base + "/v1/info")
        result: dict[str, Any] = {
            "index": {
                k: info["index"][k]
                for k in ("factory", "num_phrases", "dim", "memory_bytes", "memory", "search_params")
            },
            "recall_at_10": (info["index"]["recall"] or {}).get("recall_at_k"),
            "workers": args.workers,
            "machine": {"cpus": os.cpu_count()},
        }
        log("warm-up")
        run_wrk(base, "/v1/related?k=10&q=", queries, args.connections, 5, args.threads, proc.pid)
        log("baseline")
        result["baseline"] = run_wrk(
            base, "/v1/related?k=10&q=", queries, args.connections, args.duration, args.threads, proc.pid
        )
        log("generator overhead (/healthz)")
        result["healthz"] = run_wrk(base, "/healthz?q=", ["x"], args.connections, 10, args.threads, proc.pid)
        log("during evaluation")
        spec = {"benchmarks": [{"name": "synthetic-triplets", "kind": args.eval_kind, "path": str(triplets)}]}
        ids = [http("POST", base + "/v1/admin/evaluations", spec)[1]["id"] for _ in range(args.eval_runs)]
        while http("GET", f"{base}/v1/evaluations/{ids[0]}")[1]["status"] == "queued":
            time.sleep(0.2)
        t0 = time.time()
        during = run_wrk(
            base, "/v1/related?k=10&q=", queries, args.connections, args.duration, args.threads, proc.pid
        )
        t1 = time.time()
        runs = [http("GET", f"{base}/v1/evaluations/{i}")[1] for i in ids]
        busy = 0.0
        for r in runs:
            if r["started_at"]:
                start = _ts(r["started_at"])
                end = _ts(r["finished_at"]) if r["finished_at"] else t1
                busy += max(0.0, min(end, t1) - max(start, t0))
        during["evaluation_busy_fraction"] = round(min(1.0, busy / (t1 - t0)), 3)
        during["evaluation_runs"] = [
            {k: r[k] for k in ("id", "status", "started_at", "finished_at", "error")} for r in runs
        ]
        result["during_evaluation"] = during
        base_p99 = result["baseline"]["p99_ms"] or float("nan")
        result["p99_ratio_during_evaluation"] = round((during["p99_ms"] or float("nan")) / base_p99, 2)
        result["targets"] = {
            "req_per_s>=1500": result["baseline"]["req_per_s"] >= 1500,
            "p99<=10ms": base_p99 <= 10,
            "zero_errors": result["baseline"]["errors"] == 0 and during["errors"] == 0,
            "p99_during_eval<=2x": result["p99_ratio_during_evaluation"] <= 2.0,
        }
        return result
    finally:
        proc.terminate()
        proc.wait(30)


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/work/data/exp/bench"), help="cache of built artifacts")
    p.add_argument("--num-phrases", type=int, default=1_000_000, help="phrases in the index (default 1M)")
    p.add_argument("--num-words", type=int, default=50_000, help="vocabulary size (default 50k)")
    p.add_argument("--dim", type=int, default=128, help="vector dimension (default 128, the paper's)")
    p.add_argument("--clusters", type=int, default=2000, help="word clusters (default 2000)")
    p.add_argument("--factory", default="IVF4096,Flat", help="FAISS factory (default IVF4096,Flat)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--duration", type=int, default=20, help="seconds per measurement (default 20)")
    p.add_argument("--triplets", type=int, default=2_000_000, help="triplets in the evaluation benchmark")
    p.add_argument("--eval-kind", default="triplets", help="benchmark kind of the triplet file")
    p.add_argument("--eval-runs", type=int, default=3, help="evaluation runs queued during the measurement")
    p.add_argument("--build-only", action="store_true", help="build the index and stop")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index = build(args)
    if args.build_only:
        return 0
    print(json.dumps(measure(args, index), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
