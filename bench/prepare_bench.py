"""Preparation benchmark: sentences/s of `python -m training prepare` on a generated JSONL of real captions,
and its peak memory at two corpus sizes (N and 10 N sentences): flat, since preparation streams.

    python bench/prepare_bench.py                       # 100k and 1M sentences from ../shared/data Flickr8k
    python bench/prepare_bench.py --sentences 20000 --captions path/to/Flickr8k.token.txt --workers 2

Captions are repeated (each copy under new image ids) to reach the size. Prints one JSON object: per size the
wall time, sentences/s (input sentences per wall second) and the peak RSS of the largest process (main or
worker), the CPU seconds of all its processes (sentences per CPU second is the figure to trust on a busy
machine), and the ratios between the two sizes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CAPTIONS = ROOT.parent / "shared" / "data" / "flickr8k" / "Flickr8k.token.txt"


def load_captions(path: Path) -> list[tuple[str, list[str]]]:
    """(image, captions) groups of a Flickr8k token file (IMAGE#N<TAB>caption)."""
    groups: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, tab, caption = line.rstrip("\n").partition("\t")
            if tab:
                groups.setdefault(name.split("#")[0], []).append(caption)
    return list(groups.items())


def write_jsonl(path: Path, groups: list[tuple[str, list[str]]], sentences: int) -> int:
    written = copy = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < sentences:
            for image, caps in groups:
                f.write(json.dumps({"image": f"{image}", "id": f"{copy}/{image}", "sentences": caps}) + "\n")
                written += len(caps)
                if written >= sentences:
                    break
            copy += 1
    return written


PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(time.perf_counter() - t, r.returncode, u.ru_maxrss, u.ru_utime + u.ru_stime)"
)


def run_once(jsonl: Path, out: Path, workers: int) -> tuple[float, int, float]:
    """(wall seconds, peak RSS KiB of the largest process, CPU seconds) of one prepare run."""
    cmd = [
        sys.executable,
        "-m",
        "training",
        "prepare",
        "--jsonl",
        str(jsonl),
        "--out",
        str(out),
        "--quiet",
        "--force",
        "--workers",
        str(workers),
    ]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *cmd], capture_output=True, text=True, cwd=ROOT, check=True
    )
    seconds, code, rss, cpu = probe.stdout.split()
    if code != "0":
        raise SystemExit(f"prepare failed (exit {code})")
    return float(seconds), int(rss), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--captions", type=Path, default=DEFAULT_CAPTIONS, help="a Flickr8k.token.txt")
    parser.add_argument("--sentences", type=int, default=100_000, help="small size (the large one is 10x)")
    parser.add_argument("--factor", type=int, default=10, help="large size = factor x small (default 10)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; the median is reported")
    parser.add_argument("--workers", type=int, default=2, help="prepare --workers (default 2)")
    args = parser.parse_args()
    if not args.captions.is_file():
        if args.captions == DEFAULT_CAPTIONS:  # a fresh clone without the shared data: say so, do not fail
            where = f"../{args.captions.relative_to(ROOT.parent)}"
            reason = f"no Flickr8k captions at {where}; pass --captions FILE"
            print(json.dumps({"benchmark": "prepare", "skipped": reason}, indent=2))
            return
        raise SystemExit(f"{args.captions}: caption file not found (pass --captions)")
    groups = load_captions(args.captions)
    results = {}
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as tmp:
        for size in (args.sentences, args.sentences * args.factor):
            jsonl = Path(tmp) / f"records-{size}.jsonl"
            n = write_jsonl(jsonl, groups, size)
            runs = [run_once(jsonl, Path(tmp) / f"corpus-{size}", args.workers) for _ in range(args.repeats)]
            seconds = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            results[str(size)] = {
                "sentences": n,
                "jsonl_mb": round(jsonl.stat().st_size / 1e6, 1),
                "seconds": round(seconds, 2),
                "sentences_per_second": round(n / seconds),
                "cpu_seconds": round(cpu, 2),
                "sentences_per_cpu_second": round(n / cpu),
                "peak_rss_mb": round(rss / 1024, 1),
            }
            jsonl.unlink()
    small, large = (results[str(s)] for s in (args.sentences, args.sentences * args.factor))
    report = {
        "benchmark": "prepare",
        "workers": args.workers,
        "repeats": args.repeats,
        "sizes": results,
        "throughput_ratio_large_over_small": round(
            large["sentences_per_second"] / small["sentences_per_second"], 2
        ),
        "peak_rss_ratio_large_over_small": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        "unix_time": int(time.time()),
        "self_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
