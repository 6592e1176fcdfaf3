"""`python -m training seed-study`: several models x several seeds on one set of benchmarks, with intervals.

    python -m training seed-study --run text=data/exp/emb/text-s0 --run text=data/exp/emb/text-s1 \
        --run a=data/exp/emb/a-s0 --run a=data/exp/emb/a-s1 --diff a-text \
        --pairs-dir ../shared/data/wordsim-dev --triplets f8k-words=data/bench/f8k-test-1.tsv \
        --out data/exp/study.json

Benchmarks: WS353, SimLex-999 and the analogies from gensim, every CSV of `--pairs-dir` (the wordsim-dev sets:
header `,word1,word2,similarity`), and triplet files. Every model is scored on the items that all runs cover.
Prints, per benchmark, each model's mean and spread (sample std) over its seeds, and for each `--diff X-Y`
the difference of the means with the paired bootstrap 95% interval over the same items
(evaluation/paired.py). Markdown on stdout, everything as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import BUILTIN_SUITES, BenchmarkSpec, DatasetCache
from evaluation.cli import _guarded, write_text_atomic
from evaluation.datasets import PairSet
from evaluation.paired import common_items, group_metrics, item_scores, paired_difference
from index.artifacts import load_embeddings


def benchmark_specs(pairs_dir: str | None, triplets: list[str]) -> list[BenchmarkSpec]:
    specs = list(BUILTIN_SUITES["default"])
    if pairs_dir:
        for csv in sorted(Path(pairs_dir).glob("*.csv")):
            specs.append(BenchmarkSpec(csv.stem, "similarity", csv, {"score": "similarity"}))
    for item in triplets:
        name, _, path = item.partition("=")
        specs.append(BenchmarkSpec(name, "triplets", path))
    return specs


def _split(items: list[str], sep: str, what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        left, mark, right = item.partition(sep)
        if not mark or not left or not right:
            raise ValueError(f"{what} {item!r}: expected LEFT{sep}RIGHT")
        out.append((left, right))
    return out


def parse_diffs(items: list[str], labels: set[str]) -> list[tuple[str, str]]:
    """`X-Y` -> (X, Y); labels may contain '-', so the split is the one whose both sides are run labels."""
    out = []
    for item in items:
        splits = [(item[:i], item[i + 1 :]) for i, ch in enumerate(item) if ch == "-"]
        known = [(x, y) for x, y in splits if x in labels and y in labels]
        if len(known) != 1:
            raise ValueError(
                f"--diff {item!r}: expected X-Y with X and Y among the --run labels {sorted(labels)}"
            )
        out.append(known[0])
    return out


def run_study(
    runs: list[tuple[str, str]],
    diffs: list[tuple[str, str]],
    specs: list[BenchmarkSpec],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for label, path in runs:
        groups.setdefault(label, []).append(path)
    for x, y in diffs:
        for g in (x, y):
            if g not in groups:
                raise ValueError(f"--diff names {g!r}, which no --run defines")
    embeddings = {p: load_embeddings(Path(p)) for p in dict.fromkeys(p for _, p in runs)}
    cache = DatasetCache()
    result: dict[str, Any] = {"runs": groups, "benchmarks": {}}
    for spec in specs:
        data = cache.load(spec)
        scores = {
            g: [item_scores(embeddings[p], spec.kind, data) for p in paths] for g, paths in groups.items()
        }
        items = common_items(list(scores.values()))
        human = data.scores if isinstance(data, PairSet) else None
        bench: dict[str, Any] = {"kind": spec.kind, "items": int(items.sum()), "total": int(items.size)}
        for g, runs_scores in scores.items():
            values = group_metrics(spec.kind, runs_scores, items, human)
            bench[g] = {
                "per_seed": values,
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            }
        for x, y in diffs:
            point, low, high = paired_difference(
                spec.kind, scores[x], scores[y], items=items, human=human, resamples=resamples, seed=seed
            )
            bench[f"{x}-{y}"] = {"diff": point, "ci95": [low, high]}
        result["benchmarks"][spec.name] = bench
    return result


def markdown(result: dict[str, Any], diffs: list[tuple[str, str]]) -> str:
    groups = list(result["runs"])
    head = ["benchmark", "items", *[f"{g} (n={len(result['runs'][g])})" for g in groups]]
    head += [f"{x} - {y} [95% CI]" for x, y in diffs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, b in result["benchmarks"].items():
        cells = [name, str(b["items"])]
        cells += [f"{b[g]['mean']:.3f} ± {b[g]['std']:.3f}" for g in groups]
        for x, y in diffs:
            d = b[f"{x}-{y}"]
            cells.append(f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmd_study(args: argparse.Namespace) -> int:
    runs = _split(args.run, "=", "--run")
    diffs = parse_diffs(args.diff or [], {label for label, _ in runs})
    specs = benchmark_specs(args.pairs_dir, args.triplets or [])
    result = run_study(runs, diffs, specs, resamples=args.resamples, seed=args.seed)
    if args.out:
        write_text_atomic(Path(args.out), json.dumps(result, indent=2))
    print(markdown(result, diffs))
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "seed-study",
        help="compare models over several seeds: mean, spread, paired bootstrap intervals of differences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", action="append", required=True, help="LABEL=EMBEDDINGS_DIR; repeat per seed")
    p.add_argument("--diff", action="append", help="X-Y: report mean(X) - mean(Y) with its interval")
    p.add_argument("--pairs-dir", help="folder of relatedness CSVs (,word1,word2,similarity)")
    p.add_argument("--triplets", action="append", help="NAME=FILE: a triplet benchmark")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", help="also write the full result as JSON")
    p.set_defaults(func=_guarded(cmd_study))
