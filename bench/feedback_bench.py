"""Feedback under load (issue 17): does recording clicks slow the queries? GET /v1/related p99 at a fixed
rate, alone and while POST /v1/feedback runs at a fixed 500 req/s, on 2 uvicorn workers, in the same run.

    python bench/feedback_bench.py                                  # 100k phrases, PostgreSQL, 3 x 2 windows
    python bench/feedback_bench.py --out bench/results/feedback_load.json
    python bench/feedback_bench.py --num-phrases 20000 --factory Flat --duration 10 --repeats 2   # quick

The service runs as in production (`python -m app serve --workers 2`) on the local PostgreSQL (--pg-url, a
private schema created for the run and dropped after it; `--sqlite` for a SQLite file instead). The index
and its queries come from bench/load_bench.py (synthetic, built once and cached in --work), the load from
bench/wrk.py's fixed-rate mode (latency from each request's scheduled time: no coordinated omission).

Windows, --repeats times in turn so that both conditions share the machine's background noise: (1) GET
/v1/related at --related-rate req/s alone, (2) the same while a second wrk POSTs /v1/feedback at
--feedback-rate req/s (bodies: a query, 10 shown phrases of the index, one or two clicked; 1,000 different
ones). Each window lasts --duration seconds after a 3 s warm-up of the run. Reported: per window and as
medians, the related p50/p99 and achieved rates, the feedback p50/p99, achieved rate and failures, the
feedback rows stored (at least the requests wrk saw answered 202: it stops counting at a window's end, while
the requests then in flight are still stored), the CPU per second of the server, of PostgreSQL and of the
load generators, and the CPU the hypervisor gave to other guests (`cpu_per_s`, `steal`: a window with steal
is a noisy one), the related latency pooled over all windows of each condition (`pooled`: one p99 of every
request, steadier than the median of per-window p99s) and `targets`: feedback holds
--feedback-rate (>= 98% achieved, no failures) and the pooled related p99 with feedback is within 1.2x of the
p99 without it (the issue's "not slower by more than 20%"). `--control` adds a third window per repeat, the
related load beside GET /healthz at the feedback rate: what any second traffic of that rate costs the queries
on this machine, the floor for any feedback endpoint served by the same workers. `quiet` gives the same
pooled figures over the repeats in which no window lost more than --max-steal cores to the hypervisor (a
shared VM's neighbours take CPU in bursts, and a window with steal has the p99 of the neighbour, not of the
service); `targets` says whether the ratio holds over all repeats and over the quiet ones.

On a shared or small machine the two wrk processes, the service and PostgreSQL compete for the same cores:
`machine` records the CPU count and load averages; run it on a quiet machine for figures to quote. In a
deployment the clients do not run on the service's cores; `--feedback-nice 10` comes closer to that on a
small machine: the feedback generator then yields the CPU to the service and to the related generator
(whose own timing it would otherwise delay).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load_bench, wrk  # noqa: E402
from bench.fault_load_bench import private_schema  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def log(msg: str) -> None:
    print(f"[feedback_bench] {msg}", file=sys.stderr, flush=True)


def feedback_bodies(phrases: list[str], n: int, seed: int) -> list[str]:
    """`n` JSON bodies of POST /v1/feedback: a query, 10 other phrases shown, the first one or two clicked."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        picked = [phrases[j] for j in rng.choice(len(phrases), 11, replace=False)]
        shown = picked[1:]
        body = {
            "query": picked[0],
            "shown": shown,
            "clicked": shown[: 1 + i % 2],
            "session": f"bench-{i % 50}",
        }
        out.append(json.dumps(body, separators=(",", ":")))
    return out


def git_commit(root: Path = ROOT) -> str | None:
    """The commit of the checkout at `root` (with `+dirty` when it has changes), to tell which code a result
    measured."""
    try:
        git = {"cwd": root, "capture_output": True, "text": True}
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **git)
        dirty = subprocess.run(["git", "status", "--porcelain"], **git)
    except OSError:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else None


def stored_rows(database_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one())
    finally:
        engine.dispose()


def cpu_by_group(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server (its process tree), PostgreSQL's processes, this process's
    finished children (the wrk runs, once they have exited), and `steal`: time the hypervisor gave the
    machine's virtual CPUs to someone else (/proc/stat), the noise of a shared VM."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("/proc/stat", encoding="ascii") as f:
        steal = int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")  # cpu user nice ... softirq steal
    processes = load_bench.process_times()
    return {
        "server": load_bench.server_cpu_seconds(server_pid, processes),
        "postgres": sum(p.cpu_s for p in processes.values() if p.name.startswith("postgres")),
        "generators": children.ru_utime + children.ru_stime,
        "steal": steal,
    }


def window(
    args: argparse.Namespace,
    base: str,
    queries: list[str],
    bodies: list[str] | None,
    cpu: Any,
    server_pid: int,
    latencies: list[np.ndarray] | None = None,
    control: bool = False,
) -> dict[str, Any]:
    """One fixed-rate window of GET /v1/related, with POST /v1/feedback beside it when `bodies` is given
    (GET /healthz at the same rate instead, when `control`); the related latencies are appended to
    `latencies`."""
    related = "/v1/related?k=10&q="
    second: dict[str, Any] = {}

    def post() -> None:
        path, items = ("/healthz?", [""]) if control else ("/v1/feedback", bodies or [])
        second.update(
            wrk.fixed_rate(
                base,
                path,
                items,
                args.feedback_connections,
                args.feedback_rate,
                args.duration,
                cpu,
                post_json=not control,
                nice=args.feedback_nice,
            )
        )

    thread = threading.Thread(target=post) if bodies or control else None
    cpu_before, t0 = cpu_by_group(server_pid), time.monotonic()
    if thread is not None:
        thread.start()
    out = {
        "related": wrk.fixed_rate(
            base,
            related,
            queries,
            args.connections,
            args.related_rate,
            args.duration,
            cpu,
            latencies=latencies,
        )
    }
    if thread is not None:
        thread.join()
        out["healthz" if control else "feedback"] = second
    cpu_after, elapsed = cpu_by_group(server_pid), time.monotonic() - t0
    out["cpu_per_s"] = {k: round((cpu_after[k] - cpu_before[k]) / elapsed, 3) for k in cpu_after}
    return out


def pooled(latencies: list[np.ndarray]) -> dict[str, float]:
    """Percentiles of every request of some windows together."""
    lat = np.concatenate(latencies)
    return {
        "requests": int(lat.size),
        **{f"p{p:g}_ms".replace(".", "_"): round(float(np.percentile(lat, p)), 3) for p in (50, 99, 99.9)},
    }


def median(windows: list[dict[str, Any]], part: str, key: str) -> float | None:
    values = [w[part][key] for w in windows if w.get(part) and w[part].get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def quiet_figures(
    args: argparse.Namespace,
    repeats: list[list[dict[str, Any]]],
    latencies: list[list[np.ndarray]],
) -> dict[str, Any]:
    """The related p99s pooled over the quiet repeats only: those in which no window had more steal than
    --max-steal. `repeats[i]`/`latencies[i]`: repeat i's windows (alone, with feedback[, control])."""
    quiet = [
        i
        for i, windows in enumerate(repeats)
        if all(w["cpu_per_s"]["steal"] <= args.max_steal for w in windows)
    ]
    out: dict[str, Any] = {"max_steal": args.max_steal, "repeats": quiet}
    if not quiet:
        return out
    names = ("related_alone", "related_with_feedback", "related_with_healthz")
    for j, name in enumerate(names[: len(repeats[0])]):
        out[name] = pooled([latencies[i][j] for i in quiet])
    alone = out["related_alone"]["p99_ms"]
    out["related_p99_ratio_with_feedback"] = round(out["related_with_feedback"]["p99_ms"] / alone, 3)
    if "related_with_healthz" in out:
        out["related_p99_ratio_with_healthz"] = round(out["related_with_healthz"]["p99_ms"] / alone, 3)
    return out


def control_figures(
    windows: list[dict[str, Any]], latencies: list[np.ndarray], p99_alone: float
) -> dict[str, Any]:
    """What the cheapest second traffic does to the related p99: GET /healthz (no database, no body) at the
    feedback rate, beside the same related load."""
    related = pooled(latencies)
    return {
        "second_traffic": "GET /healthz",
        "pooled_related": related,
        "related_p99_ratio": round(related["p99_ms"] / p99_alone, 3) if p99_alone else None,
        "healthz_req_per_s": median(windows, "healthz", "req_per_s"),
        "cpu_per_s": {
            k: median(windows, "cpu_per_s", k) for k in ("server", "postgres", "generators", "steal")
        },
        "windows": windows,
    }


def measure(args: argparse.Namespace, index: Path, database_url: str) -> dict[str, Any]:
    queries = load_bench.sample_queries(args)
    phrases = [line.split("\t")[0] for line in (args.work / f"phrases-{args.num_phrases}.tsv").open()]
    bodies = feedback_bodies(phrases, 1000, args.seed)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    env = dict(item.split("=", 1) for item in args.server_env)
    proc, base = load_bench.start_server(
        index, args.work, args.workers, database_url, root=args.app_root, extra_env=env
    )
    cpu = functools.partial(load_bench.server_cpu_seconds, proc.pid)
    try:
        log("warm-up (3 s of each)")
        warm = argparse.Namespace(**{**vars(args), "duration": 3})
        window(warm, base, queries, bodies, cpu, proc.pid)
        rows_before = stored_rows(database_url)
        alone: list[dict[str, Any]] = []
        beside: list[dict[str, Any]] = []
        lat_alone: list[np.ndarray] = []
        lat_beside: list[np.ndarray] = []
        controls: list[dict[str, Any]] = []
        lat_control: list[np.ndarray] = []
        for repeat in range(args.repeats):
            log(f"related alone at {args.related_rate:g} req/s ({repeat + 1}/{args.repeats})")
            alone.append(window(args, base, queries, None, cpu, proc.pid, lat_alone))
            log(f"related at {args.related_rate:g} req/s + feedback at {args.feedback_rate:g} req/s")
            beside.append(window(args, base, queries, bodies, cpu, proc.pid, lat_beside))
            if args.control:
                log(f"related at {args.related_rate:g} req/s + GET /healthz at {args.feedback_rate:g} req/s")
                controls.append(window(args, base, queries, None, cpu, proc.pid, lat_control, control=True))
        stored = stored_rows(database_url) - rows_before
    finally:
        proc.terminate()
        proc.wait(30)
    accepted = sum(w["feedback"]["requests"] - (w["feedback"]["non_200"] or 0) for w in beside)
    quiet = quiet_figures(
        args,
        [[alone[i], beside[i], *controls[i : i + 1]] for i in range(len(alone))],
        [[lat_alone[i], lat_beside[i], *lat_control[i : i + 1]] for i in range(len(alone))],
    )
    pooled_alone, pooled_beside = pooled(lat_alone), pooled(lat_beside)
    p99_alone, p99_beside = pooled_alone["p99_ms"], pooled_beside["p99_ms"]
    ratio = round(p99_beside / p99_alone, 3) if p99_alone and p99_beside else None
    pair_ratios = [
        round(b["related"]["p99_ms"] / a["related"]["p99_ms"], 3)
        for a, b in zip(alone, beside, strict=True)
        if a["related"]["p99_ms"]
    ]
    achieved = median(beside, "feedback", "req_per_s")
    failures = sum((w["feedback"]["errors"] or 0) + (w["feedback"]["non_200"] or 0) for w in beside)
    return {
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("out", "pg_url", "work", "app_root")
        },
        "commit": git_commit(),  # the bench's
        "app_commit": git_commit(args.app_root),  # the served app's (--app-root)
        "database": "sqlite" if args.sqlite else "postgresql",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "related_alone": {
            k: median(alone, "related", k) for k in ("req_per_s", "p50_ms", "p99_ms", "p99_9_ms")
        },
        "related_with_feedback": {
            k: median(beside, "related", k) for k in ("req_per_s", "p50_ms", "p99_ms", "p99_9_ms")
        },
        "feedback": {
            **{k: median(beside, "feedback", k) for k in ("req_per_s", "p50_ms", "p99_ms", "p99_9_ms")},
            "failures": failures,
            "accepted": accepted,
            "rows_stored": stored,
        },
        "pooled": {"related_alone": pooled_alone, "related_with_feedback": pooled_beside},
        "cpu_per_s": {
            condition: {
                k: median(windows, "cpu_per_s", k) for k in ("server", "postgres", "generators", "steal")
            }
            for condition, windows in (("alone", alone), ("with_feedback", beside))
        },
        "related_p99_ratio_with_feedback": ratio,  # pooled p99s
        "related_p99_ratio_per_window_pair": pair_ratios,
        "control": control_figures(controls, lat_control, p99_alone) if controls else None,
        "quiet": quiet,
        "targets": {
            "feedback_holds_rate": bool(achieved and achieved >= 0.98 * args.feedback_rate and failures == 0),
            # wrk stops counting at the window's end; requests then in flight are stored all the same
            "no_accepted_feedback_lost": stored >= accepted,
            "related_p99_within_1_2x": bool(ratio is not None and ratio <= 1.2),
            "related_p99_within_1_2x_quiet_repeats": (
                quiet_ratio <= 1.2 if (quiet_ratio := quiet.get("related_p99_ratio_with_feedback")) else None
            ),
        },
        "windows": {"alone": alone, "with_feedback": beside},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    load_bench.add_index_args(p, 100_000, "IVF1024,Flat")
    p.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL to use, a private schema in it ({PG_URL})")
    p.add_argument("--sqlite", action="store_true", help="a SQLite file in --work instead of PostgreSQL")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--related-rate", type=float, default=500.0, help="GET /v1/related req/s (default 500)")
    p.add_argument("--feedback-rate", type=float, default=500.0, help="POST /v1/feedback req/s (default 500)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections for related (default 16)")
    p.add_argument(
        "--feedback-connections", type=int, default=16, help="wrk connections for feedback (default 16)"
    )
    p.add_argument(
        "--feedback-nice",
        type=int,
        default=0,
        help="scheduling priority of the feedback generator (nice; default 0, as the related one)",
    )
    p.add_argument(
        "--control",
        action="store_true",
        help="a third window per repeat: related + GET /healthz at --feedback-rate (the cheapest second "
        "traffic; reported under `control`)",
    )
    p.add_argument(
        "--max-steal",
        type=float,
        default=0.05,
        help="a repeat is quiet when none of its windows lost more than this many cores to the hypervisor "
        "(steal); `quiet` pools those repeats only (default 0.05)",
    )
    p.add_argument("--duration", type=int, default=20, help="seconds per window (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="pairs of windows (default 3)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        help="KEY=VALUE setting of the server only, e.g. MMWE_RESULT_CACHE=0 (repeatable)",
    )
    p.add_argument(
        "--app-root",
        type=Path,
        default=load_bench.ROOT,
        help="checkout whose app is served (another commit's work tree; default this one)",
    )
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index = load_bench.build(args)
    with contextlib.ExitStack() as stack:
        if args.sqlite:
            url = f"sqlite:///{(args.work / f'feedback-bench-{uuid.uuid4().hex[:8]}.db').resolve()}"
            stack.callback(lambda: Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True))
        else:
            url = stack.enter_context(private_schema(args.pg_url, "mmwe_feedback_bench"))
        result = measure(args, index, url)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
