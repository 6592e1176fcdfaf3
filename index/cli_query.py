"""`python -m index related|similarity|info`: query a built index from the shell; output is JSON.

python -m index related --index data/index "hot dog" -k 5     # ranked as GET /v1/related ranks by default
python -m index similarity --index data/index "dog" "puppy"
python -m index info --index data/index
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from index.errors import QueryError
from index.ranking import COMPOUNDS, DEFAULT_MIN_COUNT, DEFAULT_POPULARITY, Ranking, load_denylist
from index.search import PhraseSearcher


def _common(p: Any) -> None:
    p.add_argument("--index", type=Path, required=True, help="mmwe.index directory")
    p.add_argument(
        "--no-verify", action="store_true", help="skip the sha256 check of the index files at load"
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "related",
        help="phrases related to a query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument("query", nargs="+", help="query phrase(s); several are searched as one batch")
    p.add_argument("-k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument(
        "--compounds",
        choices=COMPOUNDS,
        default="limit",
        help="hits sharing a query word: include, limit (at most 30%% of k) or exclude (default limit)",
    )
    p.add_argument(
        "--min-count",
        type=int,
        default=DEFAULT_MIN_COUNT,
        help=f"only hits seen at least this often in the corpus (default {DEFAULT_MIN_COUNT})",
    )
    p.add_argument(
        "--popularity",
        type=float,
        default=DEFAULT_POPULARITY,
        help=f"rank by cosine + W*ln(1+count); 0 = cosine alone (default {DEFAULT_POPULARITY})",
    )
    p.add_argument(
        "--denylist",
        default="default",
        help="hits containing a listed word or phrase are dropped: 'default', 'none' or a file",
    )
    p.add_argument(
        "--no-collapse",
        action="store_true",
        help="keep near-duplicates (same words up to order and plural) and spellings of the query",
    )
    p.add_argument(
        "--exclude-query-words", action="store_true", help="the same as --compounds exclude (deprecated)"
    )
    p.add_argument("--exact", action="store_true", help="exact (brute-force) search instead of the ANN index")
    p.add_argument("--ef-search", type=int, help="override HNSW efSearch for this search")
    p.add_argument("--nprobe", type=int, help="override IVF nprobe for this search")
    p.set_defaults(func=run_related)
    p = sub.add_parser(
        "similarity",
        help="cosine similarity of two phrases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument("a", help="first phrase")
    p.add_argument("b", help="second phrase")
    p.set_defaults(func=run_similarity)
    p = sub.add_parser(
        "info",
        help="manifest and memory use of an index",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.set_defaults(func=run_info)


def _load(args: argparse.Namespace) -> PhraseSearcher:
    return PhraseSearcher.load(args.index, verify=not args.no_verify)


def run_related(args: argparse.Namespace) -> int:
    s = _load(args)
    params = {name: v for name, v in (("efSearch", args.ef_search), ("nprobe", args.nprobe)) if v is not None}
    ranking = Ranking(
        popularity=args.popularity,
        min_count=args.min_count,
        compounds="exclude" if args.exclude_query_words else args.compounds,
        collapse=not args.no_collapse,
        denylist=load_denylist(args.denylist),
    )
    results = s.related_batch(
        args.query,
        args.k,
        ranking=ranking,
        exact=args.exact,
        search_params=params or None,
    )
    out = [
        {"query": q, "error": str(r)} if isinstance(r, QueryError) else asdict(r)
        for q, r in zip(args.query, results, strict=True)
    ]
    print(json.dumps(out if len(out) > 1 else out[0], indent=2))
    return 0 if not any(isinstance(r, QueryError) for r in results) else 2


def run_similarity(args: argparse.Namespace) -> int:
    s = _load(args)
    try:
        score, qa, qb = s.similarity(args.a, args.b)
    except QueryError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps({"a": args.a, "b": args.b, "similarity": score, "oov": qa.oov + qb.oov}, indent=2))
    return 0


def run_info(args: argparse.Namespace) -> int:
    s = _load(args)
    info = {k: v for k, v in s.manifest.items() if k != "files"}
    info["memory"] = s.memory_report()
    info["memory_bytes"] = s.memory_bytes()
    print(json.dumps(info, indent=2))
    return 0
