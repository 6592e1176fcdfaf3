"""Phrase-index benchmark: build time and peak memory, loaded memory, recall@10, single-query latency
p50/p99 in-process, batch throughput, exact-search fallback latency, and phrase-mining throughput.

    python bench/index_bench.py --sizes 100000 --out data/index-bench-100k.json
    python bench/index_bench.py --sizes 1000000 --factories "auto;IVF2048,Flat;HNSW32" --threads 2
    python bench/index_bench.py --sizes 0 --mining-tokens 20000000      # mining throughput only

Every build goes through the real CLI (`python -m index build`) in a child process on a synthetic embeddings
artifact whose "words" are the phrases (so each of the N phrases is one indexed vector); the child's peak RSS
is its build memory. Vectors: `bench/synthetic.py` (phrase means over topic-clustered word vectors). Recall@10
is measured on 1,000 held-out vectors that are not in the index, against exact search, tie-aware. Latency is
per single query, in this process, after warm-up: raw FAISS `index.search` and the whole
`PhraseSearcher.related` (embedding, search, hit building). Prints one JSON document (also to --out).
Results depend on whatever
else the machine runs: the JSON records the load average before and after each step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import index  # noqa: E402, F401, I001  (first: sets OMP_WAIT_POLICY before FAISS starts OpenMP)
import faiss  # noqa: E402, I001
from bench.synthetic import phrase_vectors, write_corpus  # noqa: E402
from index.ann import omp_threads  # noqa: E402
from index.artifacts import write_embeddings  # noqa: E402
from index.corpus import iter_chunks, open_corpus  # noqa: E402
from index.mining import MiningConfig, NgramCounter  # noqa: E402
from index.search import PhraseSearcher  # noqa: E402
from index.tuning import ground_truth, recall_at_k  # noqa: E402


def load() -> float:
    return round(os.getloadavg()[0], 2)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentiles(seconds: list[float], cpu_seconds: list[float] | None = None) -> dict[str, float]:
    """Wall-clock p50/p99/mean in ms; with `cpu_seconds` (the calling thread's CPU time per query) also the
    CPU-time percentiles, which leave out time spent waiting for a core on a busy machine."""
    ms = np.asarray(seconds) * 1e3
    out = {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "n": len(ms),
    }
    if cpu_seconds is not None:
        cpu = np.asarray(cpu_seconds) * 1e3
        out["cpu_p50_ms"] = round(float(np.percentile(cpu, 50)), 4)
        out["cpu_p99_ms"] = round(float(np.percentile(cpu, 99)), 4)
    return out


def timed(fn: Any, n: int) -> tuple[list[float], list[float]]:
    """Call fn(i) for i in range(n); wall and thread-CPU seconds of each call."""
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(n):
        c = time.thread_time()
        t = time.perf_counter()
        fn(i)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return wall, cpu


def make_embeddings(path: Path, vectors: np.ndarray) -> Path:
    if (path / "manifest.json").is_file():
        return path
    words = [f"p{i}" for i in range(len(vectors))]
    write_embeddings(
        path,
        words,
        [1] * len(words),
        vectors,
        model_kind="synthetic",
        corpus={"name": "synthetic"},
        training={"generator": "bench/synthetic.py"},
        metrics={},
        seed=0,
    )
    return path


def run_build(emb: Path, out: Path, factory: str, threads: int, extra: list[str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "index",
        "build",
        "--embeddings",
        str(emb),
        "--out",
        str(out),
        "--factory",
        factory,
        "--threads",
        str(threads),
        "--no-progress",
        *extra,
    ]
    before = load()
    t0 = time.perf_counter()
    with open(out.parent / f"{out.name}.build.log", "w+b") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps the child and returns its own resource usage
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            log.seek(0)
            raise RuntimeError(f"build failed: {log.read().decode()[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    peak = usage.ru_maxrss * 1024  # Linux reports KiB
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),  # user + system CPU of the build process
        "manifest_build_seconds": manifest["build_seconds"],
        "timings": manifest["timings"],
        "peak_rss_bytes": peak,
        "load_before": before,
        "load_after": load(),
        "factory": manifest["factory"],
        "search_params": manifest["search_params"],
        "tuned_recall": manifest["recall"]["recall_at_k"],
        "tune_curve": manifest["recall"]["curve"],
    }


def bench_search(out: Path, queries: np.ndarray, num_latency: int, num_exact: int) -> dict[str, Any]:
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    s = PhraseSearcher.load(out, verify=False)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_bytes() - rss0
    t0 = time.perf_counter()
    PhraseSearcher.load(out, verify=True)
    verify_s = time.perf_counter() - t0
    res: dict[str, Any] = {
        "load_seconds": round(load_s, 3),
        "load_verify_seconds": round(verify_s, 3),
        "memory_bytes": s.memory_bytes(),
        "memory_report": s.memory_report(),
        "rss_after_load_bytes": rss_loaded,
        "load_before": load(),
    }
    vectors = s.vectors if s.vectors is not None else s.index.reconstruct_n(0, s.num_phrases)
    truth = ground_truth(vectors, queries, 10, None)
    _, found = s.index.search(queries, 10)
    res["recall_at_10"] = round(recall_at_k(found, truth, vectors), 4)
    with omp_threads(1):  # as PhraseSearcher does for single queries
        wall, cpu = timed(lambda i: s.index.search(queries[i % len(queries)][None, :], 10), num_latency + 100)
    res["faiss_single_query"] = percentiles(wall[100:], cpu[100:])
    rng = np.random.default_rng(1)
    texts = [s.phrases[int(i)] for i in rng.integers(0, s.num_phrases, size=num_latency + 100)]
    wall, cpu = timed(lambda i: s.related(texts[i], k=10), num_latency + 100)
    res["related_single_query"] = percentiles(wall[100:], cpu[100:])
    t = time.perf_counter()
    s.index.search(queries, 10)
    res["faiss_batch_qps"] = round(len(queries) / (time.perf_counter() - t), 1)
    t = time.perf_counter()
    s.related_batch(texts[:1000], 10)
    res["related_batch_qps"] = round(1000 / (time.perf_counter() - t), 1)
    wall, cpu = timed(lambda i: s.related(texts[i], k=10, exact=True), num_exact)
    res["exact_single_query"] = percentiles(wall, cpu)
    res["load_after"] = load()
    return res


def bench_mining(workdir: Path, num_tokens: int) -> dict[str, Any]:
    corpus = write_corpus(workdir / f"corpus-{num_tokens}", num_tokens)
    info = open_corpus(corpus)
    counter = NgramCounter(len(info.words), max_n=4)
    before = load()
    t0 = time.perf_counter()
    for tokens, offsets in iter_chunks(corpus, "train", len(info.words)):
        counter.add(tokens, offsets)
    mined = counter.select(info.words, MiningConfig())
    secs = time.perf_counter() - t0
    return {
        "num_tokens": num_tokens,
        "seconds": round(secs, 2),
        "tokens_per_second": round(num_tokens / secs),
        "distinct_ngrams": {n: len(t.keys) for n, t in counter.tables.items()},
        "mined_multiword": sum(1 for p in mined if " " in p.text),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "load_before": before,
        "load_after": load(),
    }


def _lat(d: dict[str, Any]) -> str:
    cpu = f" ({d['cpu_p50_ms']:.3f} / {d['cpu_p99_ms']:.3f})" if "cpu_p50_ms" in d else ""
    return f"{d['p50_ms']:.3f} / {d['p99_ms']:.2f}{cpu}"


def markdown(paths: list[Path]) -> str:
    """The docs table for one or more result files."""
    cols = [
        "N", "factory", "build s wall (CPU)", "build peak RSS", "recall@10", "param",
        "FAISS 1-query p50 / p99 ms (CPU p50 / p99)", "related() p50 / p99 ms (CPU p50 / p99)",
        "batch QPS FAISS / related", "exact 1-query p50 ms", "on disk", "load avg",
    ]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    mib = 2**20
    for path in paths:
        for r in json.loads(path.read_text())["results"]:
            b, s = r["build"], r["search"]
            cells = [
                f"{r['n']:,}", b["factory"], f"{b['wall_seconds']:.0f}" + (
                    f" ({b['cpu_seconds']:.0f} CPU)" if "cpu_seconds" in b else ""),
                f"{b['peak_rss_bytes'] / mib:.0f} MiB", f"{s['recall_at_10']:.3f}",
                json.dumps(b["search_params"]), _lat(s["faiss_single_query"]),
                _lat(s["related_single_query"]),
                f"{s['faiss_batch_qps']:,.0f} / {s['related_batch_qps']:,.0f}",
                f"{s['exact_single_query']['p50_ms']:.1f}", f"{r['disk_bytes'] / mib:.0f} MiB",
                f"{b['load_before']:.0f}-{s['load_after']:.0f}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000", help="comma-separated phrase counts (0 = skip index benches)")
    p.add_argument("--factories", default="auto", help="semicolon-separated factory strings (default auto)")
    p.add_argument("--dim", type=int, default=128, help="vector dimension (default 128)")
    p.add_argument("--threads", type=int, default=2, help="FAISS threads for build and search (default 2)")
    p.add_argument("--latency-queries", type=int, default=2000, help="single queries timed (default 2000)")
    p.add_argument("--exact-queries", type=int, default=50, help="exact-fallback queries timed (default 50)")
    p.add_argument(
        "--mining-tokens", type=int, default=0, help="also time mining a corpus of this many tokens"
    )
    p.add_argument("--build-args", default="", help="extra arguments for `python -m index build`")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mmwe-index-bench",
        help="scratch directory (default: $TMPDIR/mmwe-index-bench)",
    )
    p.add_argument("--keep", action="store_true", help="keep built indexes in --workdir")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument(
        "--table", type=Path, nargs="+", help="print the markdown table of these result files and exit"
    )
    args = p.parse_args()
    if args.table:
        print(markdown(args.table))
        return 0
    faiss.omp_set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "threads": args.threads,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [],
    }
    for n in [int(x) for x in args.sizes.split(",") if int(x) > 0]:
        data = phrase_vectors(n + 1000, args.dim, seed=0)
        vectors, queries = data[:n], np.ascontiguousarray(data[n:])
        emb = make_embeddings(args.workdir / f"emb-{n}-{args.dim}", vectors)
        del data, vectors
        for factory in args.factories.split(";"):
            out = args.workdir / f"index-{n}-{factory.replace(',', '_')}"
            entry: dict[str, Any] = {"n": n, "dim": args.dim, "factory_requested": factory}
            entry["build"] = run_build(emb, out, factory, args.threads, args.build_args.split())
            entry["search"] = bench_search(out, queries, args.latency_queries, args.exact_queries)
            entry["disk_bytes"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            report["results"].append(entry)
            print(json.dumps(entry), file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(out)
    if args.mining_tokens:
        report["mining"] = bench_mining(args.workdir, args.mining_tokens)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
