"""`python -m index build`: mine phrases, embed them, build and tune a FAISS index, write an `mmwe.index`.

    python -m index build --embeddings data/emb --corpus data/corpus --out data/index
    python -m index build --embeddings data/emb --phrases my_phrases.txt --out data/index --factory HNSW32

Prints the manifest summary as JSON. Safe to re-run: the output directory is replaced atomically, and a failed
build leaves the previous index in place.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from index.build import BuildConfig, build_index
from index.mining import EDGE_STOPWORDS, MiningConfig
from index.phrases import read_phrase_list

SUMMARY_KEYS = (
    "factory",
    "num_phrases",
    "dim",
    "search_params",
    "recall",
    "build_seconds",
    "device",
    "timings",
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "build",
        help="build a phrase index",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--embeddings", type=Path, required=True, help="mmwe.embeddings directory (word vectors)")
    p.add_argument("--corpus", type=Path, help="mmwe.corpus directory to mine words and phrases from")
    p.add_argument(
        "--phrases",
        type=Path,
        action="append",
        default=[],
        help="phrase list file: 'phrase' or 'phrase<TAB>count' per line (repeatable)",
    )
    p.add_argument(
        "--no-corpus-phrases",
        action="store_true",
        help="ignore the corpus's own phrases.tsv (picked up by default when present)",
    )
    p.add_argument("--out", type=Path, required=True, help="output index directory (replaced atomically)")
    p.add_argument(
        "--factory",
        default="auto",
        help="FAISS factory string (Flat, HNSW32, IVF4096,Flat, IVF4096,SQ8, IVF4096,PQ32, ...) "
        "or 'auto' (Flat when small, else IVF sized to --memory-budget-mb); default auto",
    )
    p.add_argument(
        "--target-recall",
        type=float,
        default=0.95,
        help="recall@k that efSearch/nprobe is tuned to reach on held-out queries (default 0.95)",
    )
    p.add_argument("--recall-k", type=int, default=10, help="k of the tuned recall@k (default 10)")
    p.add_argument("--num-queries", type=int, default=1000, help="held-out queries for tuning (default 1000)")
    p.add_argument("--ef-construction", type=int, default=40, help="HNSW efConstruction (default 40)")
    p.add_argument(
        "--memory-budget-mb", type=float, help="RAM budget for the index; 'auto' picks a type that fits"
    )
    p.add_argument(
        "--train-size", type=int, help="vectors used to train IVF/PQ (default: 64 per list, >= 100k)"
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="build on the GPU when faiss-gpu sees one and the type allows it (auto), never, or always",
    )
    p.add_argument("--threads", type=int, help="FAISS OpenMP threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed for held-out queries and training samples")
    p.add_argument("--splits", default="train", help="comma-separated corpus splits to mine (default train)")
    p.add_argument("--max-n", type=int, default=4, help="longest mined phrase, in words (default 4)")
    p.add_argument(
        "--min-count", type=int, default=5, help="minimum count of a mined multi-word phrase (default 5)"
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=0.3,
        help="minimum collocation score (generalised NPMI, -1..1) of a multi-word phrase (default 0.3)",
    )
    p.add_argument("--min-word-count", type=int, default=1, help="minimum count of a single word (default 1)")
    p.add_argument(
        "--max-phrases", type=int, help="keep at most this many mined multi-word phrases (most frequent)"
    )
    p.add_argument(
        "--edge-stopwords",
        default="default",
        help="words a mined multi-word phrase may not start or end with: 'default' (built-in English"
        " function words), 'none', or a file with one word per line",
    )
    p.add_argument(
        "--denylist",
        default="default",
        help="phrases containing a listed word or phrase are not indexed: 'default' (the shipped"
        " index/denylist.txt), 'none', or a file with one word or phrase per line",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def edge_stopwords(value: str) -> frozenset[str]:
    """'default' (built-in English list), 'none', or a file with one word per line."""
    if value == "default":
        return EDGE_STOPWORDS
    if value == "none":
        return frozenset()
    return frozenset(item.text for item in read_phrase_list(Path(value)))


def run(args: argparse.Namespace) -> int:
    config = BuildConfig(
        factory=args.factory,
        target_recall=args.target_recall,
        recall_k=args.recall_k,
        num_queries=args.num_queries,
        ef_construction=args.ef_construction,
        memory_budget=int(args.memory_budget_mb * 2**20) if args.memory_budget_mb else None,
        train_size=args.train_size,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        mining=MiningConfig(
            max_n=args.max_n,
            min_count=args.min_count,
            min_score=args.min_score,
            min_word_count=args.min_word_count,
            max_phrases=args.max_phrases,
            edge_stopwords=edge_stopwords(args.edge_stopwords),
        ),
        splits=tuple(s for s in args.splits.split(",") if s),
        corpus_phrases=not args.no_corpus_phrases,
        denylist=args.denylist,
        progress=not args.no_progress,
    )
    manifest = build_index(
        args.embeddings, args.out, corpus=args.corpus, phrase_files=args.phrases, config=config
    )
    summary = {key: manifest.get(key) for key in SUMMARY_KEYS}
    summary["recall"] = {k: v for k, v in manifest["recall"].items() if k != "curve"}
    summary["out"] = str(args.out)
    print(json.dumps(summary, indent=2))
    return 0
