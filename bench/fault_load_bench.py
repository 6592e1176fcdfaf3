"""Load test during faults (issue 14): a fixed rate of GET /v1/related while the index is reloaded and the
database becomes unreachable.

    python bench/fault_load_bench.py                        # 100k phrases (built once, cached in data/bench)
    python bench/fault_load_bench.py --out bench/results/fault_load.json

The service runs as in production (`python -m app serve --workers 2`) against the local PostgreSQL
(--pg-url, a private schema created for the run and dropped after it), reached through a small TCP proxy on
a loopback port that this script controls. wrk offers a fixed --rate of GET /v1/related (bench/wrk.py's
fixed-rate mode: latency from each request's scheduled time, no coordinated omission) for --duration
seconds, and meanwhile:

- --reloads admin reloads (`POST /v1/admin/reload`), one every --reload-every seconds from
  --reload-start, alternating between two copies of the index; the one at position --corrupt-at is a copy
  whose `index.faiss` is truncated to half, which must be refused (422) while the old index keeps serving;
- from --outage-start, for --outage-s seconds, the proxy blackholes the database: it holds every open
  connection (nothing forwarded either way) and accepts new ones without ever answering, as a hung or
  partitioned PostgreSQL does; then it forwards again (held traffic resumes, as after a partition heals);
- /readyz is polled every --readyz-every seconds throughout.

The index and the synthetic data come from bench/load_bench.py (same builder, same queries), the load from
bench/wrk.py. Reported: total requests, failed GET /v1/related (non-2xx, socket errors and wrk's 2 s
timeouts all count), p50/p99/p99.9 over the whole run, each reload's outcome, and what /readyz answered
before, during and after the outage. `targets` says which of the issue's acceptance conditions held.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load_bench, wrk  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MAX_CONNECTIONS = 256  # the proxy refuses more (the service pools a handful per worker)


def log(msg: str) -> None:
    print(f"[fault_load_bench] {msg}", file=sys.stderr, flush=True)


class BlackholeProxy:
    """A loopback TCP proxy to `upstream` that can stop answering: `blackhole()` holds all traffic (open
    connections and new ones, which are accepted but never answered), `forward()` lets it through again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.open = threading.Event()
        self.open.set()
        self.stop = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(128)
        self.server.settimeout(0.2)
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = [threading.Thread(target=self._accept, daemon=True)]
        self.accepted = 0

    def __enter__(self) -> BlackholeProxy:
        self.threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.open.set()
        for thread in list(self.threads):
            thread.join(5)
        for s in [*self.sockets, self.server]:
            s.close()

    def blackhole(self) -> None:
        self.open.clear()

    def forward(self) -> None:
        self.open.set()

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client = self.server.accept()[0]
            except OSError:
                continue
            self.accepted += 1
            self.sockets.append(client)
            if len(self.sockets) > 2 * MAX_CONNECTIONS:
                client.close()
                continue
            self._start(self._connect, client)

    def _wait_open(self) -> bool:
        while not self.stop.is_set():
            if self.open.wait(0.2):
                return not self.stop.is_set()
        return False

    def _connect(self, client: socket.socket) -> None:
        if not self._wait_open():  # a connection made during the outage is held, unanswered
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        self.sockets.append(upstream)
        self._start(self._pump, client, upstream)
        self._start(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data or not self._wait_open():  # during the outage a chunk read is held, not sent
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def private_schema(pg_url: str, prefix: str = "mmwe_fault_bench") -> Iterator[str]:
    """A fresh schema in the PostgreSQL of `pg_url`; yields the URL with its search_path, drops it after."""
    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, connect_args={"connect_timeout": 5})
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def via(url: str, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def candidates(index: Path, work: Path) -> dict[str, Path]:
    """Two good copies of the index and a corrupt one (index.faiss truncated to half), under `work`."""
    root = work / "fault-candidates"
    out = {name: root / name for name in ("good-a", "good-b", "corrupt")}
    for path in out.values():
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(index, path)
    faiss_file = out["corrupt"] / "index.faiss"
    with open(faiss_file, "r+b") as f:
        f.truncate(faiss_file.stat().st_size // 2)
    return out


def readyz(base: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=15) as resp:
            status, body = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.loads(exc.read() or b"null")
    except OSError as exc:
        status, body = 0, {"error": str(exc)}
    database = (body or {}).get("database") or {}
    return {
        "status": status,
        "database_ok": database.get("ok"),
        "database_detail": database.get("detail"),
        "index_ok": ((body or {}).get("index") or {}).get("ok"),
        "index_detail": ((body or {}).get("index") or {}).get("detail"),
        "answer_ms": round((time.perf_counter() - t0) * 1e3, 1),
    }


def faults(
    args: argparse.Namespace, base: str, proxy: BlackholeProxy, paths: dict[str, Path], t0: float
) -> dict[str, Any]:
    """The reloads, the outage and the /readyz polls, each on its own thread and on a schedule relative to
    `t0` (wrk's start): a slow reload delays neither the outage nor the polls."""
    reloads: list[dict[str, Any]] = []
    polls: list[dict[str, Any]] = []
    outage: dict[str, float] = {}
    stop = threading.Event()

    def since() -> float:
        return round(time.monotonic() - t0, 2)

    def poll(at: float) -> None:
        answer = readyz(base)
        answer["answered_t_s"] = round(at + answer["answer_ms"] / 1e3, 2)
        polls.append({"t_s": round(at, 2), **answer})

    def polls_loop() -> None:  # one poll per period, each in its own thread: a slow answer delays no other
        started: list[threading.Thread] = []
        for n in range(int(args.duration / args.readyz_every)):
            if stop.wait(max(0.0, t0 + n * args.readyz_every - time.monotonic())):
                break
            started.append(threading.Thread(target=poll, args=(time.monotonic() - t0,), daemon=True))
            started[-1].start()
        for thread in started:
            thread.join(30)

    def reloads_loop() -> None:
        for i in range(args.reloads):
            time.sleep(max(0.0, t0 + args.reload_start + i * args.reload_every - time.monotonic()))
            name = "corrupt" if i == args.corrupt_at else ("good-a", "good-b")[i % 2]
            at = since()
            status, body = load_bench.http("POST", base + "/v1/admin/reload", {"index_dir": str(paths[name])})
            entry = {
                "n": i + 1,
                "t_s": at,
                "candidate": name,
                "status": status,
                "answer_s": round(since() - at, 2),
            }
            if status == 200:
                entry["generation"] = body["index"].get("generation")
                entry["workers"] = len(body.get("workers") or [])
            else:
                entry["error"] = ((body or {}).get("error") or {}).get("message", "")[:200]
            reloads.append(entry)
            log(f"t={at:.0f}s reload {i + 1} ({name}): {status} in {entry['answer_s']:.1f} s")

    poller = threading.Thread(target=polls_loop, daemon=True)
    reloader = threading.Thread(target=reloads_loop, daemon=True)
    poller.start()
    reloader.start()
    time.sleep(max(0.0, t0 + args.outage_start - time.monotonic()))
    proxy.blackhole()
    outage["start_s"] = since()
    log(f"t={outage['start_s']:.0f}s database blackholed")
    time.sleep(max(0.0, t0 + outage["start_s"] + args.outage_s - time.monotonic()))
    proxy.forward()
    outage["end_s"] = since()
    log(f"t={outage['end_s']:.0f}s database forwarded again")
    reloader.join(args.duration + 60)
    poller.join(args.duration + 60)
    stop.set()
    polls.sort(key=lambda r: r["t_s"])
    return {"reloads": reloads, "readyz_polls": polls, "outage": outage}


def readyz_summary(polls: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """/readyz before, during and after the outage, by when each answer came (a poll sent during the outage
    may be answered after it: held traffic resumes)."""

    def phase(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "polls": len(rows),
            "statuses": dict(Counter(str(r["status"]) for r in rows)),
            "database_details": sorted({str(r["database_detail"]) for r in rows if r["database_detail"]}),
            "index_details": sorted({str(r["index_detail"]) for r in rows if r["index_ok"] is False}),
            "max_answer_ms": max((r["answer_ms"] for r in rows), default=None),
        }

    during = [r for r in polls if start <= r["answered_t_s"] < end]
    first_red = min((r["answered_t_s"] for r in during if r["database_ok"] is False), default=None)
    after = [r for r in polls if r["answered_t_s"] >= end]
    first_green = min((r["answered_t_s"] for r in after if r["database_ok"]), default=None)
    return {
        "before_outage": phase([r for r in polls if r["answered_t_s"] < start]),
        "during_outage": phase(during),
        "after_outage": phase(after),
        "first_database_503_after_outage_start_s": None if first_red is None else round(first_red - start, 2),
        "first_database_ok_after_outage_end_s": None if first_green is None else round(first_green - end, 2),
    }


def measure(args: argparse.Namespace, index: Path) -> dict[str, Any]:
    queries = load_bench.sample_queries(args)
    paths = candidates(index, args.work)
    from sqlalchemy.engine import make_url

    pg = make_url(args.pg_url)
    upstream = (pg.host or "127.0.0.1", pg.port or 5432)
    with private_schema(args.pg_url) as url, BlackholeProxy(upstream) as proxy:
        proc, base = load_bench.start_server(index, args.work, args.workers, via(url, proxy.port))
        cpu = functools.partial(load_bench.server_cpu_seconds, proc.pid)
        related = "/v1/related?k=10&q="
        try:
            log("warm-up")
            wrk.fixed_rate(base, related, queries, args.connections, args.rate, 5, cpu)
            result: dict[str, Any] = {"workers": args.workers, "machine": {"cpus": os.cpu_count()}}
            result["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
            box: dict[str, Any] = {}
            t0 = time.monotonic()
            load = threading.Thread(
                target=lambda: box.update(
                    wrk.fixed_rate(
                        base, related, queries, args.connections, args.rate, args.duration, cpu, 5.0, t0
                    )
                )
            )
            load.start()
            log(f"fixed rate {args.rate:g} req/s for {args.duration} s, faults on schedule")
            injected = faults(args, base, proxy, paths, t0)
            load.join()
            result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        finally:
            proc.terminate()
            proc.wait(30)
    failed = (box.get("non_2xx") or 0) + (box.get("socket_errors") or 0)
    outage = injected["outage"]
    statuses = Counter(str(r["status"]) for r in injected["reloads"])
    corrupt = [r for r in injected["reloads"] if r["candidate"] == "corrupt"]
    summary = readyz_summary(injected["readyz_polls"], outage["start_s"], outage["end_s"])
    result.update(
        {
            "related": {
                "requests": box.get("requests"),
                "failed": failed,
                **{k: box.get(k) for k in ("non_2xx", "socket_errors", "non_200", "late_requests")},
                **{k: box.get(k) for k in ("target_req_per_s", "req_per_s", "p50_ms", "p90_ms", "p99_ms")},
                **{k: box.get(k) for k in ("p99_9_ms", "max_ms", "server_cpu_us_per_request")},
                "connections": args.connections,
                "duration_s": args.duration,
                "windows": box.get("windows"),  # every 5 s from the start: line up with the faults
            },
            "reloads": {"outcomes": dict(statuses), "runs": injected["reloads"]},
            "database_outage": {**outage, "readyz": summary},
            "readyz_polls": injected["readyz_polls"],
        }
    )
    result["targets"] = {
        "zero_failed_related": failed == 0 and box.get("non_200") == 0,
        "corrupt_candidate_refused_422": bool(corrupt) and all(r["status"] == 422 for r in corrupt),
        "good_reloads_applied_200": all(r["status"] == 200 for r in injected["reloads"] if r not in corrupt),
        "readyz_database_red_throughout_outage": all(
            r["database_ok"] is False
            for r in injected["readyz_polls"]
            if outage["start_s"] <= r["t_s"] and r["answered_t_s"] < outage["end_s"]
        ),
        "readyz_503_during_outage": summary["first_database_503_after_outage_start_s"] is not None,
        "readyz_200_after_outage": summary["first_database_ok_after_outage_end_s"] is not None,
        "rate_achieved>=98%": (box.get("req_per_s") or 0) >= 0.98 * args.rate,
    }
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    load_bench.add_index_args(p, 100_000, "IVF1024,Flat")
    p.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL to use, a private schema in it ({PG_URL})")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument("--rate", type=float, default=500.0, help="offered req/s of GET /v1/related (500)")
    p.add_argument("--duration", type=int, default=100, help="seconds of load (default 100)")
    p.add_argument("--reloads", type=int, default=10, help="admin reloads during the load (10)")
    p.add_argument("--reload-start", type=float, default=5.0, help="second of the first reload (5)")
    p.add_argument("--reload-every", type=float, default=5.0, help="seconds between reloads (5)")
    p.add_argument("--corrupt-at", type=int, default=4, help="0-based position of the corrupt candidate (4)")
    p.add_argument("--outage-start", type=float, default=40.0, help="second the database is blackholed (40)")
    p.add_argument("--outage-s", type=float, default=30.0, help="seconds the database stays unreachable (30)")
    p.add_argument("--readyz-every", type=float, default=1.0, help="seconds between /readyz polls (1)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print(wrk.MISSING, file=sys.stderr)
        return 2
    if args.outage_start + args.outage_s + 5 > args.duration:
        p.error("the outage must end at least 5 s before the load does (--duration)")
    args.work.mkdir(parents=True, exist_ok=True)
    index = load_bench.build(args)
    text = json.dumps(measure(args, index), indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
