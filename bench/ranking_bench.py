"""How the related-phrase ranking (index/ranking.py) changes what users see and how it agrees with people.

    python bench/ranking_bench.py --index data/index/default --wordsim ../shared/data/wordsim-dev

Prints JSON with, per index:

- `lists`: for the 20 everyday query words of issue 16, under the default ranking and under cosine alone: the
  share of top-10 hits containing the query word (as a word up to plural, and as a substring), the share with
  corpus count 1, near-duplicate pairs (same words up to order and plural), and the lists themselves;
- `ndcg`: nDCG@10 against human judgements, per development set: for each query word with at least
  --min-judged judged partners in the index, its partners ranked by `cosine + w * ln(1 + count)` for each w
  of --weights (w = 0 is cosine alone), gain = the human score; the mean over query words, and for each w the
  paired difference to w = 0 with a 95% bootstrap interval over query words. Relatedness sets (MTurk-771,
  MTurk-287, WordSim-353 relatedness) and similarity sets (WordSim-353 similarity, RG-65, MC-30) are
  reported apart. Development data only: these sets choose the constants, a held-out set judges them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.ranking import Ranking, load_denylist, phrase_key, singular  # noqa: E402
from index.search import PhraseSearcher  # noqa: E402

WORDS = (
    *("dog", "beach", "red", "car", "snow", "kitchen", "guitar", "child", "water", "tree"),
    *("bird", "food", "city", "horse", "flower", "ball", "mountain", "bicycle", "baby", "music"),
)
RELATEDNESS = ("mturk-771.csv", "mturk-287.csv", "wordsim353-rel.csv")
SIMILARITY = ("wordsim353-sim.csv", "rg-65.csv", "mc-30.csv")


def list_stats(searcher: PhraseSearcher, ranking: Ranking, k: int) -> dict[str, Any]:
    """Issue 16's acceptance figures for WORDS under `ranking`."""
    hits = contains_word = contains_sub = count_one = dup_pairs = 0
    lists: dict[str, list[tuple[str, int]]] = {}
    for word in WORDS:
        found = searcher.related(word, k, ranking=ranking).hits
        lists[word] = [(h.phrase, h.count) for h in found]
        keys = [phrase_key(h.phrase).key for h in found]
        dup_pairs += sum(1 for i in range(len(keys)) for j in range(i) if keys[i] == keys[j])
        for h in found:
            hits += 1
            contains_word += word in {singular(t) for t in h.phrase.split(" ")}
            contains_sub += word in h.phrase
            count_one += h.count == 1
    return {
        "hits": hits,
        "share_containing_query_word": round(contains_word / hits, 3),
        "share_containing_query_substring": round(contains_sub / hits, 3),
        "share_count_1": round(count_one / hits, 3),
        "near_duplicate_pairs": dup_pairs,
        "lists": lists,
    }


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        (r["word1"].strip().lower(), r["word2"].strip().lower(), float(r["similarity"]))
        for r in rows
        if (r.get("similarity") or "").strip() and r.get("word1") and r.get("word2")
    ]


def ndcg(gains_in_order: list[float], k: int) -> float:
    ideal = sorted(gains_in_order, reverse=True)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains_in_order[:k]))
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:k]))
    return dcg / idcg if idcg > 0 else 0.0


def ndcg_by_weight(
    searcher: PhraseSearcher, files: list[Path], weights: list[float], min_judged: int, k: int, seed: int
) -> dict[str, Any]:
    counts = dict(zip(searcher.phrases, searcher.counts.tolist(), strict=True))
    partners: dict[str, dict[str, float]] = {}
    for path in files:
        for a, b, score in read_pairs(path):
            if a == b or a not in counts or b not in counts:
                continue
            partners.setdefault(a, {})[b] = score
            partners.setdefault(b, {})[a] = score
    queries = sorted(q for q, judged in partners.items() if len(judged) >= min_judged)
    if not queries:
        return {"queries": 0}
    per_weight = np.zeros((len(weights), len(queries)))
    for qi, q in enumerate(queries):
        judged = sorted(partners[q].items())
        cos = np.array([searcher.similarity(q, b)[0] for b, _ in judged])
        prior = np.log1p(np.array([counts[b] for b, _ in judged], dtype=np.float64))
        gains = [g for _, g in judged]
        for wi, w in enumerate(weights):
            order = np.lexsort((np.arange(len(judged)), -(cos + w * prior)))
            per_weight[wi, qi] = ndcg([gains[i] for i in order], k)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(queries), size=(1000, len(queries)))
    out: dict[str, Any] = {"queries": len(queries), "pairs": sum(len(partners[q]) for q in queries) // 2}
    base = per_weight[weights.index(0.0)]
    out["by_weight"] = {}
    for wi, w in enumerate(weights):
        diff = per_weight[wi] - base
        means = diff[boot].mean(axis=1)
        out["by_weight"][str(w)] = {
            "ndcg@10": round(float(per_weight[wi].mean()), 4),
            "minus_cosine": round(float(diff.mean()), 4),
            "ci95": [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)],
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, action="append", required=True, help="mmwe.index (repeatable)")
    ap.add_argument("--wordsim", type=Path, help="folder of the development relatedness/similarity CSVs")
    ap.add_argument(
        "--weights",
        default="0,0.005,0.01,0.02,0.03,0.05,0.1",
        help="popularity weights w to compare (0 = cosine alone; default 0,0.005,0.01,0.02,0.03,0.05,0.1)",
    )
    ap.add_argument("--min-judged", type=int, default=3, help="least judged partners of a query word (3)")
    ap.add_argument("-k", type=int, default=10, help="list length for the list figures and nDCG (10)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    ap.add_argument("--lists", action="store_true", help="include the 20 words' lists in the output")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    if 0.0 not in weights:
        weights.insert(0, 0.0)
    report: dict[str, Any] = {"k": args.k, "weights": weights, "indexes": {}}
    denylist = load_denylist("default")
    for path in args.index:
        searcher = PhraseSearcher.load(path)
        entry: dict[str, Any] = {"model_kind": searcher.manifest.get("embeddings", {}).get("model_kind")}
        for name, ranking in (("default", Ranking(denylist=denylist)), ("cosine", Ranking.cosine())):
            stats = list_stats(searcher, ranking, args.k)
            if not args.lists:
                stats.pop("lists")
            entry[f"lists_{name}"] = stats
        if args.wordsim is not None:
            for group, names in (("relatedness", RELATEDNESS), ("similarity", SIMILARITY)):
                files = [args.wordsim / n for n in names if (args.wordsim / n).is_file()]
                entry[f"ndcg_{group}"] = {
                    f.name: ndcg_by_weight(searcher, [f], weights, args.min_judged, args.k, args.seed)
                    for f in files
                }
                entry[f"ndcg_{group}"]["all"] = ndcg_by_weight(
                    searcher, files, weights, args.min_judged, args.k, args.seed
                )
        report["indexes"][str(path)] = entry
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
