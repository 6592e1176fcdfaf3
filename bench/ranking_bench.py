"""How the related-phrase ranking (index/ranking.py) changes what users see and how it agrees with people.

    python bench/ranking_bench.py --index data/index/default --wordsim ../shared/data/wordsim-dev

Prints JSON with, per index:

- `lists`: for the 20 everyday query words of issue 16, under the default ranking and under cosine alone: the
  share of top-10 hits containing the query word (as a word up to plural, and as a substring), the share with
  corpus count 1, near-duplicate pairs (same words up to order and plural), and the lists themselves;
- `ndcg`: nDCG@10 against human judgements, per development set: for each query word with at least
  --min-judged judged partners in the index, its partners ranked by `cosine + w * ln(1 + count)` for each w
  of --weights (w = 0 is cosine alone), gain = the human score; the mean over query words, and for each w the
  paired difference to w = 0 with a 95% bootstrap interval over query words (and to the default w = 0.02,
  `minus_default`, when it is among the weights). Relatedness sets (MTurk-771,
  MTurk-287, WordSim-353 relatedness) and similarity sets (WordSim-353 similarity, RG-65, MC-30) are
  reported apart. Development data only: these sets choose the constants, a held-out set judges them.
- `triplets` (with --triplets NAME=FILE, repeatable): the same nDCG@10 and intervals on image-derived triplets
  (`python -m training image-triplets`): for each base term in the index with at least --min-judged
  candidates in the index (at least one positive and one negative), its candidates are all its positives in
  the file (terms of another caption of the same photo, gain 1) and all its negatives (terms of another
  photo, gain 0); the bootstrap is over base terms. `default_filters`: the shares of positives and of
  negatives that the default ranking's filters would touch (below min_count, denylisted, a spelling of the
  query, compounds of the query). Triplets of dev photos may tune constants; test triplets are report only.

    python bench/ranking_bench.py --index IDX --triplets f8k-dev-words=data/exp/f8k-dev-words.tsv
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

from evaluation.readers import read_triplets  # noqa: E402
from index.mining import EDGE_STOPWORDS  # noqa: E402
from index.ranking import DEFAULT_POPULARITY, Ranking, load_denylist, phrase_key, singular  # noqa: E402
from index.search import PhraseSearcher  # noqa: E402
from index.text import normalize_phrase  # noqa: E402

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
    counts = phrase_counts(searcher)
    partners: dict[str, dict[str, float]] = {}
    for path in files:
        for a, b, score in read_pairs(path):
            if a == b or a not in counts or b not in counts:
                continue
            partners.setdefault(a, {})[b] = score
            partners.setdefault(b, {})[a] = score
    judged = {q: p for q, p in partners.items() if len(p) >= min_judged}
    if not judged:
        return {"queries": 0}
    out: dict[str, Any] = {"queries": len(judged), "pairs": sum(len(p) for p in judged.values()) // 2}
    out["by_weight"] = score_by_weight(searcher, counts, judged, weights, k, seed)
    return out


def phrase_counts(searcher: PhraseSearcher) -> dict[str, int]:
    return dict(zip(searcher.phrases, searcher.counts.tolist(), strict=True))


def per_query_ndcg(
    searcher: PhraseSearcher,
    counts: dict[str, int],
    partners: dict[str, dict[str, float]],
    weights: list[float],
    k: int,
) -> np.ndarray:
    """[len(weights), len(queries)]: nDCG@k of each query's (sorted) partners ranked by
    `cosine + w ln(1 + count)`, gain = the partner's value; ties keep the partners' alphabetical order."""
    queries = sorted(partners)
    per_weight = np.zeros((len(weights), len(queries)))
    for qi, q in enumerate(queries):
        judged = sorted(partners[q].items())
        cos = np.array([searcher.similarity(q, b)[0] for b, _ in judged])
        prior = np.log1p(np.array([counts[b] for b, _ in judged], dtype=np.float64))
        gains = [g for _, g in judged]
        for wi, w in enumerate(weights):
            order = np.lexsort((np.arange(len(judged)), -(cos + w * prior)))
            per_weight[wi, qi] = ndcg([gains[i] for i in order], k)
    return per_weight


def score_by_weight(
    searcher: PhraseSearcher,
    counts: dict[str, int],
    partners: dict[str, dict[str, float]],
    weights: list[float],
    k: int,
    seed: int,
) -> dict[str, Any]:
    """Per w: the mean of `per_query_ndcg`, and the difference to w = 0 paired per query with a 95% bootstrap
    interval over queries (1000 resamples); when the default weight is among `weights`, also the paired
    difference to it (`minus_default`, `ci95_default`: does another weight beat the default?)."""
    per_weight = per_query_ndcg(searcher, counts, partners, weights, k)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(partners), size=(1000, len(partners)))
    base = per_weight[weights.index(0.0)]
    default = per_weight[weights.index(DEFAULT_POPULARITY)] if DEFAULT_POPULARITY in weights else None
    by_weight: dict[str, Any] = {}
    for wi, w in enumerate(weights):
        diff = per_weight[wi] - base
        by_weight[str(w)] = {
            "ndcg@10": round(float(per_weight[wi].mean()), 4),
            "minus_cosine": round(float(diff.mean()), 4),
            "ci95": interval(diff, boot),
        }
        if default is not None:
            by_weight[str(w)]["minus_default"] = round(float((per_weight[wi] - default).mean()), 4)
            by_weight[str(w)]["ci95_default"] = interval(per_weight[wi] - default, boot)
    return by_weight


def interval(diff: np.ndarray, boot: np.ndarray) -> list[float]:
    """95% percentile interval of the mean of `diff` over the bootstrap resamples `boot` [R, n]."""
    means = diff[boot].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def triplet_candidates(path: Path) -> dict[str, dict[str, float]]:
    """Each base term's candidates in a triplet file: its positives (gain 1) and negatives (gain 0).

    Read with the evaluation reader (`evaluation.readers.read_triplets`); a term that is a positive of the
    base in one triplet (it describes one of the base's photos) and a negative in another is a positive."""
    triplets = read_triplets(path)
    terms = [normalize_phrase(t) for t in triplets.phrases]
    out: dict[str, dict[str, float]] = {}
    for b, p, n in triplets.ids.tolist():
        candidates = out.setdefault(terms[b], {})
        candidates[terms[p]] = 1.0
        candidates.setdefault(terms[n], 0.0)
    for base, candidates in out.items():
        candidates.pop(base, None)
    return out


def triplet_ndcg(
    searcher: PhraseSearcher,
    path: Path,
    weights: list[float],
    min_judged: int,
    k: int,
    seed: int,
    ranking: Ranking,
) -> dict[str, Any]:
    """nDCG@k per w over the base terms of a triplet file (see `triplet_candidates`): those in the index with
    at least `min_judged` candidates in the index, at least one of them a positive and one a negative."""
    counts = phrase_counts(searcher)
    found = triplet_candidates(path)
    anchors: dict[str, dict[str, float]] = {}
    for base, candidates in found.items():
        known = {c: g for c, g in candidates.items() if c in counts}
        if base in counts and len(known) >= min_judged and 0 < sum(known.values()) < len(known):
            anchors[base] = known
    out: dict[str, Any] = {
        "file": str(path),
        "base_terms": len(found),
        "queries": len(anchors),
        "candidates": sum(len(c) for c in anchors.values()),
        "positives": int(sum(sum(c.values()) for c in anchors.values())),
    }
    if not anchors:
        return out
    out["by_weight"] = score_by_weight(searcher, counts, anchors, weights, k, seed)
    out["default_filters"] = filter_shares(anchors, counts, ranking)
    return out


def filter_shares(
    anchors: dict[str, dict[str, float]], counts: dict[str, int], ranking: Ranking
) -> dict[str, dict[str, float]]:
    """Shares of the positives and of the negatives that `ranking`'s filters touch (index/ranking.py's rules):
    below `min_count` (dropped), denylisted (dropped), the query up to order and plural (dropped under
    `collapse`), and the other compounds of the query (sharing a content word up to plural: capped under
    `limit`)."""
    tally = {
        kind: dict.fromkeys(("below_min_count", "denylisted", "query_spelling", "compound"), 0)
        for kind in "pn"
    }
    totals = {"p": 0, "n": 0}
    deny = ranking.denylist
    for base, candidates in anchors.items():
        query = phrase_key(base)
        content = query.folded - EDGE_STOPWORDS or query.folded
        for phrase, gain in candidates.items():
            kind = "p" if gain > 0 else "n"
            key = phrase_key(phrase)
            totals[kind] += 1
            tally[kind]["below_min_count"] += counts[phrase] < ranking.min_count
            tally[kind]["denylisted"] += bool(deny and deny.blocks(key))
            spelling = ranking.collapse and key.key == query.key
            tally[kind]["query_spelling"] += spelling
            tally[kind]["compound"] += not spelling and not content.isdisjoint(key.folded)
    return {
        name: {reason: round(n / max(1, totals[kind]), 4) for reason, n in tally[kind].items()}
        for kind, name in (("p", "positives"), ("n", "negatives"))
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, action="append", required=True, help="mmwe.index (repeatable)")
    ap.add_argument("--wordsim", type=Path, help="folder of the development relatedness/similarity CSVs")
    ap.add_argument(
        "--weights",
        default="0,0.005,0.01,0.02,0.03,0.05,0.1",
        help="popularity weights w to compare (0 = cosine alone; default 0,0.005,0.01,0.02,0.03,0.05,0.1)",
    )
    ap.add_argument(
        "--triplets",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="image-derived triplet TSV (python -m training image-triplets) to score as NAME (repeatable)",
    )
    ap.add_argument(
        "--min-judged",
        type=int,
        default=3,
        help="least judged partners of a query word, or candidates of a triplet base term (3)",
    )
    ap.add_argument("-k", type=int, default=10, help="list length for the list figures and nDCG (10)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    ap.add_argument("--lists", action="store_true", help="include the 20 words' lists in the output")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    triplet_files: dict[str, Path] = {}
    for spec in args.triplets:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            ap.error(f"--triplets expects NAME=FILE, got {spec!r}")
        triplet_files[name] = Path(file)
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
        if triplet_files:
            default = Ranking(denylist=denylist)
            entry["triplets"] = {
                name: triplet_ndcg(searcher, file, weights, args.min_judged, args.k, args.seed, default)
                for name, file in triplet_files.items()
            }
        report["indexes"][str(path)] = entry
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
