"""Load test of the service: GET /v1/related over a synthetic 1M-phrase index, in two modes.

    python bench/load_bench.py                  # build the index once (cached in data/bench), measure
    python bench/load_bench.py --work DIR --build-only              # build only (not a timing run)
    python bench/load_bench.py --work DIR --also-rates 500 --out bench/results/load_1M.json
    python bench/load_bench.py --num-phrases 100000 --no-evaluation # a smaller index, quicker
    python bench/load_bench.py --replicas 3 --rate 500              # through nginx: 1 replica, then 3

The index is built through the real builder (`python -m index build`, IVF4096,Flat with nprobe tuned to
recall@10 >= 0.95; --factory HNSW32 also works but takes ~10x longer to build) from synthetic clustered word
vectors: words are drawn around cluster centroids, phrases are 1-3 words mostly from one cluster, so related
phrases are real neighbours. The service runs as in production (`python -m app serve --workers 2`, SQLite),
and the load comes from wrk (Debian `wrk`; queries cycle through 1,000 different phrases). bench/wrk.py has
the two modes:

- closed loop (`closed_loop`, `healthz`, `during_evaluation.closed_loop`): --connections connections, each
  sending its next request as soon as it has the answer. Gives the MAXIMUM THROUGHPUT (req/s). Its latency is
  queueing: mean latency = connections / throughput (Little's law), so 16 connections at 1,500 req/s mean
  10.7 ms whatever the service time; its p99 is reported but is not the latency target's figure.
- fixed rate (`fixed_rate`, `fixed_rate_other`, `during_evaluation.fixed_rate`): the same connections, each
  sending on a fixed schedule so that together they offer --rate req/s (wrk's Lua `delay()`, one wrk thread
  per connection). Gives the LATENCY AT A GIVEN LOAD, p50/p90/p99/p99.9 measured from each request's
  scheduled time (no coordinated omission: a stall counts against every request it delays). An achieved rate
  below the offered one (and `late_requests` near `requests`) means the server was saturated and the
  latencies are queueing growth over the run.

Runs, in order: warm-up (5 s closed loop); closed loop; /healthz closed loop (the generator's own cost and
the framework floor); fixed rate at each --also-rates; then --repeats times: a fixed-rate window at --rate
without evaluation, then one while admin-triggered evaluation runs execute (a large synthetic triplet
benchmark in the service's niced, SCHED_IDLE evaluation processes; one run is always queued behind the
executing one, and the bench waits for all to finish before the next window), the last one followed by a
closed loop still under evaluation. Alternating windows put both conditions under the same background noise;
the fixed-rate figures are the medians over the repeats (each window is kept under `runs`). Every run reports
the generator's and the server's CPU per request (the server's summed over its processes, evaluations
excluded), the 1-minute load average and, under evaluation, the share of the window evaluations executed.

Targets (issue 7, 2 uvicorn workers, 16 connections): >= 1,500 req/s closed loop (maximum throughput);
p99 <= 10 ms at a fixed offered 1,500 req/s; zero errors; p99 during an evaluation "within 2x of that", at
the fixed 1,500 req/s, checked both ways it reads: within 2x of the p99 measured without evaluation
(`p99_ratio_during_evaluation.fixed_rate`, ratio of the medians) and within 2x of the 10 ms target (<= 20 ms).
`targets` says which held; a fixed-rate p99 target holds only if its runs achieved >= 98% of the offered rate
(else it is a backlog).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
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


def start_server(
    index: Path,
    work: Path,
    workers: int,
    database_url: str | None = None,
    *,
    root: Path = ROOT,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m app serve` on a free loopback port, migrated first (SQLite in `work` unless given a URL).

    `root`: the checkout whose app is served (another commit's worktree, to compare two in one run);
    `extra_env`: settings for this server only (e.g. MMWE_RESULT_CACHE=0)."""
    port = free_port()
    env = dict(
        os.environ,
        MMWE_INDEX_DIR=str(index),
        DATABASE_URL=database_url or f"sqlite:///{work / 'bench.db'}",
        MMWE_ADMIN_TOKEN=TOKEN,
        MMWE_LOG_LEVEL="warning",
        MMWE_DATA_DIR=str(work),
        PYTHONPATH=str(root),
        **(extra_env or {}),
    )
    subprocess.run(
        [sys.executable, "-m", "app", "db", "upgrade"],
        env=env,
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=root,
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


class ProcessTimes(NamedTuple):
    parent: int
    name: str  # the command name of /proc/PID/stat (e.g. "postgres", "wrk", "python")
    cpu_s: float  # user + system seconds so far; 0 for evaluation workers (not the server's serving CPU)


def process_times() -> dict[int, ProcessTimes]:
    """Every process's parent, name and CPU seconds so far, from one walk of /proc."""
    out: dict[int, ProcessTimes] = {}
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
        evaluation = b"app.evaluations.worker" in cmdline
        cpu_s = 0.0 if evaluation else (int(fields[11]) + int(fields[12])) / tick
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        out[int(entry.name)] = ProcessTimes(int(fields[1]), name, cpu_s)
    return out


def server_cpu_seconds(root_pid: int, processes: dict[int, ProcessTimes] | None = None) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes (not evaluations);
    `processes`: a `process_times()` already taken."""
    processes = process_times() if processes is None else processes
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += processes[pid].cpu_s if pid in processes else 0.0
        stack.extend(child for child, process in processes.items() if process.parent == pid)
    return total


def busy_fraction(runs: list[dict[str, Any]], t0: float, t1: float) -> float:
    """Share of [t0, t1] during which evaluation runs were executing (summed over runs, capped at 1)."""
    busy = 0.0
    for r in runs:
        if r["started_at"]:
            start = _ts(r["started_at"])
            end = _ts(r["finished_at"]) if r["finished_at"] else t1
            busy += max(0.0, min(end, t1) - max(start, t0))
    return round(min(1.0, busy / (t1 - t0)), 3)


class EvaluationLoad:
    """Keeps an admin-triggered evaluation executing for as long as it is on: one run always queued.

    `start()` returns once the first run executes; `stop()` stops queueing and waits until every run it
    queued has finished (the service has no cancel), so the next window without evaluation really has none.
    """

    def __init__(self, base: str, spec: dict[str, Any]) -> None:
        self.base, self.spec = base, spec
        self.ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def status(self, run_id: int) -> str:
        return str(http("GET", f"{self.base}/v1/evaluations/{run_id}")[1]["status"])

    def _loop(self) -> None:
        while not self._stop.is_set():
            run_id = http("POST", self.base + "/v1/admin/evaluations", self.spec)[1]["id"]
            self.ids.append(run_id)
            while not self._stop.is_set() and self.status(run_id) == "queued":
                time.sleep(0.1)

    def start(self) -> None:
        self._thread.start()
        while not self.ids or self.status(self.ids[0]) == "queued":
            time.sleep(0.1)

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        while any(self.status(i) in ("queued", "running") for i in self.ids):
            time.sleep(0.5)
        return [http("GET", f"{self.base}/v1/evaluations/{i}")[1] for i in self.ids]


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeated fixed-rate windows: each figure's median (errors and late requests summed), and the runs."""
    out: dict[str, Any] = {"mode": runs[0]["mode"], "repeats": len(runs)}
    for key in ("req_per_s", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "server_cpu_us_per_request"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(float(np.median(values)), 3) if values else None
    for key in ("requests", "late_requests", "errors", "non_200"):
        out[key] = int(sum(r.get(key) or 0 for r in runs))
    out["runs"] = runs
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def targets(result: dict[str, Any], rate: float) -> dict[str, bool]:
    """The issue's targets, on the medians of the repeated fixed-rate windows."""
    closed, fixed = result["closed_loop"], result["fixed_rate"]
    runs = [closed, fixed, result["healthz"]]

    def achieved(run: dict[str, Any]) -> bool:  # below this the server was saturated: p99 is a backlog
        return (run["req_per_s"] or 0) >= 0.98 * rate

    checks = {
        "closed_loop_req_per_s>=1500": (closed["req_per_s"] or 0) >= 1500,
        f"fixed_rate_{rate:g}_achieved>=98%": achieved(fixed),
        f"fixed_rate_{rate:g}_p99<=10ms": achieved(fixed) and fixed["p99_ms"] <= 10,
    }
    during = result.get("during_evaluation")
    if during is not None:
        runs += [during["fixed_rate"], during["closed_loop"]]
        ratio_at_rate = result["p99_ratio_during_evaluation"]["fixed_rate"]
        both_achieved = achieved(fixed) and achieved(during["fixed_rate"])
        # "within 2x" read two ways: of the p99 measured without evaluation, and of the 10 ms target.
        checks[f"fixed_rate_{rate:g}_p99_during_eval<=2x_measured"] = (
            both_achieved and ratio_at_rate is not None and ratio_at_rate <= 2
        )
        checks[f"fixed_rate_{rate:g}_p99_during_eval<=20ms"] = (
            both_achieved and during["fixed_rate"]["p99_ms"] <= 20
        )
    checks["zero_errors"] = all(r["errors"] == 0 for r in runs)
    return checks


def sample_queries(args: argparse.Namespace) -> list[str]:
    """1,000 distinct phrases of the built index, the queries wrk cycles through."""
    rng = np.random.default_rng(args.seed + 3)
    phrases = [line.split("\t")[0] for line in (args.work / f"phrases-{args.num_phrases}.tsv").open()]
    return [phrases[i] for i in rng.choice(len(phrases), 1000, replace=False)]


def measure(args: argparse.Namespace, index: Path) -> dict[str, Any]:
    members = json.loads((args.work / "members.json").read_text())
    queries = sample_queries(args)
    triplets = args.work / "triplets.tsv"
    if args.evaluation and not triplets.is_file():
        make_triplets(triplets, members, args.triplets, args.seed)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    proc, base = start_server(index, args.work, args.workers)
    cpu = functools.partial(server_cpu_seconds, proc.pid)
    related = "/v1/related?k=10&q="
    conns, duration = args.connections, args.duration
    spec = {"benchmarks": [{"name": "synthetic-triplets", "kind": args.eval_kind, "path": str(triplets)}]}

    def fixed_window() -> dict[str, Any]:
        return wrk.fixed_rate(base, related, queries, conns, args.rate, duration, cpu)

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
            "load_average_at_start": load_at_start,
        }
        log("warm-up")
        wrk.closed_loop(base, related, queries, conns, 5, args.threads, cpu)
        log("closed loop (maximum throughput)")
        result["closed_loop"] = wrk.closed_loop(base, related, queries, conns, duration, args.threads, cpu)
        log("generator overhead (/healthz)")
        result["healthz"] = wrk.closed_loop(base, "/healthz?q=", ["x"], conns, 10, args.threads, cpu)
        for rate in args.also_rates:
            log(f"fixed rate ({rate:g} req/s)")
            fixed = wrk.fixed_rate(base, related, queries, conns, rate, duration, cpu)
            result.setdefault("fixed_rate_other", []).append(fixed)
        without: list[dict[str, Any]] = []
        during: list[dict[str, Any]] = []
        closed_during: dict[str, Any] | None = None
        eval_runs: list[dict[str, Any]] = []
        for repeat in range(args.repeats):
            log(f"fixed rate ({args.rate:g} req/s), repeat {repeat + 1}/{args.repeats}")
            without.append(fixed_window())
            if not args.evaluation:
                continue
            log(f"fixed rate ({args.rate:g} req/s) during evaluation, repeat {repeat + 1}/{args.repeats}")
            load = EvaluationLoad(base, spec)
            load.start()
            t0 = time.time()
            window = fixed_window()
            t1 = time.time()
            if repeat == args.repeats - 1:
                log("closed loop during evaluation")
                closed_during = wrk.closed_loop(base, related, queries, conns, duration, args.threads, cpu)
            t2 = time.time()
            runs = load.stop()
            window["evaluation_busy_fraction"] = busy_fraction(runs, t0, t1)
            if closed_during is not None:
                closed_during["evaluation_busy_fraction"] = busy_fraction(runs, t1, t2)
            during.append(window)
            eval_runs += [
                {k: r[k] for k in ("id", "status", "started_at", "finished_at", "error")} for r in runs
            ]
        result["fixed_rate"] = summary(without)
        if during and closed_during is not None:
            result["during_evaluation"] = {
                "fixed_rate": summary(during),
                "closed_loop": closed_during,
                "evaluation_runs": eval_runs,
            }
            result["p99_ratio_during_evaluation"] = {
                "fixed_rate": ratio(
                    result["during_evaluation"]["fixed_rate"]["p99_ms"], result["fixed_rate"]["p99_ms"]
                ),
                "closed_loop": ratio(closed_during["p99_ms"], result["closed_loop"]["p99_ms"]),
            }
        result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        result["targets"] = targets(result, args.rate)
        return result
    finally:
        proc.terminate()
        proc.wait(30)


def measure_replicas(args: argparse.Namespace, index: Path) -> dict[str, Any]:
    """--replicas N: the same load through an nginx balancer in front of 1 replica, then of N.

    Each replica is its own `python -m app serve --workers W` (--workers, 1 by default in this mode), all
    sharing one SQLite database in --work (desired index, replica rows) and the one index directory; nginx
    is Debian's, with the deployment's proxy settings (tests/app/balancer.py, deploy/nginx-proxy.conf).
    For each count: warm-up, a closed loop (maximum throughput) and a fixed-rate window at --rate (latency
    at a given load), the servers' CPU per request summed over every replica. On one host the replicas share
    its cores: the comparison measures the balancer's and the extra processes' overhead, not scale-out.
    """
    from tests.app.balancer import balancer

    queries = sample_queries(args)
    related = "/v1/related?k=10&q="
    database_url = f"sqlite:///{args.work / 'replicas.db'}"
    (args.work / "replicas.db").unlink(missing_ok=True)
    result: dict[str, Any] = {
        "mode": "replicas",
        "workers_per_replica": args.workers,
        "connections": args.connections,
        "offered_rate": args.rate,
        "machine": {"cpus": os.cpu_count()},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "runs": {},
    }
    for count in sorted({1, args.replicas}):
        servers: list[tuple[subprocess.Popen[bytes], str]] = []
        try:
            for _ in range(count):
                servers.append(start_server(index, args.work, args.workers, database_url))
            ports = [int(base.rsplit(":", 1)[1]) for _, base in servers]

            def cpu(roots: list[int] = [p.pid for p, _ in servers]) -> float:  # noqa: B006 (bound now)
                return sum(server_cpu_seconds(pid) for pid in roots)

            with balancer(args.work / f"nginx-{count}", ports, workers=1) as lb:
                log(f"{count} replica(s) behind nginx: warm-up")
                wrk.closed_loop(lb, related, queries, args.connections, 5, args.threads, cpu)
                log(f"{count} replica(s): closed loop")
                closed = wrk.closed_loop(
                    lb, related, queries, args.connections, args.duration, args.threads, cpu
                )
                log(f"{count} replica(s): fixed rate {args.rate:g} req/s")
                fixed = wrk.fixed_rate(lb, related, queries, args.connections, args.rate, args.duration, cpu)
            result["runs"][f"{count}_replicas"] = {
                "replicas": count,
                "closed_loop": closed,
                "fixed_rate": fixed,
            }
        finally:
            for proc, _ in servers:
                proc.terminate()
            for proc, _ in servers:
                proc.wait(30)
    one, many = result["runs"]["1_replicas"], result["runs"][f"{args.replicas}_replicas"]
    result["summary"] = {
        f"{n}_replicas": {
            "closed_loop_req_per_s": run["closed_loop"]["req_per_s"],
            "closed_loop_p99_ms": run["closed_loop"]["p99_ms"],
            "fixed_rate_req_per_s": run["fixed_rate"]["req_per_s"],
            "fixed_rate_p99_ms": run["fixed_rate"]["p99_ms"],
            "errors": run["closed_loop"]["errors"] + run["fixed_rate"]["errors"],
        }
        for n, run in ((1, one), (args.replicas, many))
    }
    result["throughput_ratio"] = ratio(many["closed_loop"]["req_per_s"], one["closed_loop"]["req_per_s"])
    cpus = os.cpu_count() or 1
    result["note"] = (
        f"all on one {cpus}-core host, shared with the load generator and nginx (and whatever else runs: see "
        f"the load averages): {args.replicas} replicas of {args.workers} worker(s) compete for the same "
        f"cores, so the comparison measures the balancer's and the extra processes' overhead (and, with "
        f"fewer workers than cores in the 1-replica run, the use of idle cores), not scale-out across hosts"
    )
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def add_index_args(p: argparse.ArgumentParser, num_phrases: int, factory: str) -> None:
    """The flags of the synthetic index (`build`), shared with bench/fault_load_bench.py."""
    p.add_argument(
        "--work",
        type=Path,
        default=ROOT / "data" / "bench",
        help="cache of built artifacts, also the service's MMWE_DATA_DIR (default: data/bench in this "
        "checkout, as `make bench`)",
    )
    p.add_argument(
        "--num-phrases", type=int, default=num_phrases, help=f"phrases in the index (default {num_phrases:,})"
    )
    p.add_argument("--num-words", type=int, default=50_000, help="vocabulary size (default 50k)")
    p.add_argument("--dim", type=int, default=128, help="vector dimension (default 128, the paper's)")
    p.add_argument("--clusters", type=int, default=2000, help="word clusters (default 2000)")
    p.add_argument("--factory", default=factory, help=f"FAISS factory (default {factory})")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_index_args(p, 1_000_000, "IVF4096,Flat")
    p.add_argument("--workers", type=int, help="uvicorn workers per server (default 2; 1 with --replicas)")
    p.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="measure through nginx in front of 1, then this many replicas (needs nginx: measure_replicas)",
    )
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads, closed loop (default 1)")
    p.add_argument("--rate", type=float, default=1500.0, help="offered req/s of the fixed-rate runs (1500)")
    p.add_argument(
        "--also-rates",
        type=lambda text: [float(x) for x in text.split(",") if x],
        default=[],
        help="comma-separated further offered rates, measured once each (no evaluation)",
    )
    p.add_argument("--duration", type=int, default=20, help="seconds per measurement (default 20)")
    p.add_argument("--triplets", type=int, default=2_000_000, help="triplets in the evaluation benchmark")
    p.add_argument("--eval-kind", default="triplets", help="benchmark kind of the triplet file")
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fixed-rate windows, alternately without and with evaluation (3)",
    )
    p.add_argument(
        "--no-evaluation", dest="evaluation", action="store_false", help="skip the during-evaluation runs"
    )
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--build-only", action="store_true", help="build the index and stop")
    args = p.parse_args()
    if not args.build_only and shutil.which("wrk") is None:
        print(wrk.MISSING, file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    index = build(args)
    if args.build_only:
        return 0
    if args.workers is None:
        args.workers = 1 if args.replicas else 2
    if args.replicas:
        text = json.dumps(measure_replicas(args, index), indent=2)
    else:
        text = json.dumps(measure(args, index), indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
