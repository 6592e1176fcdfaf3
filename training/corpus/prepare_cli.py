"""`python -m training prepare`: clean corpora into a prepared `mmwe.corpus` directory (docs/formats.md §2).

Examples:
    python -m training prepare --source demo --out data/corpus/demo
    python -m training prepare --flickr8k ../shared/data/flickr8k \\
        --coco ../shared/data/coco2014-val-subset/captions_val2014_subset.json --coco-text-only --out corpus
    python -m training prepare --jsonl records.jsonl --out corpus          # the generic format (§1)
    # in parallel: each job writes one part, then one merge writes the corpus
    python -m training prepare --pinterest shards/ --out corpus --num-shards 8 --shard-index $I
    python -m training prepare --pinterest shards/ --out corpus --num-shards 8 --merge

Re-running with the same sources and options is a no-op (use --force to rebuild); outputs are written
atomically, so an interrupted run leaves any previous corpus intact and finished parts are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from index.artifacts import atomic_directory, up_to_date
from index.errors import ArtifactError
from training.corpus.clean import DEFAULT_DEDUP_THRESHOLD, DEFAULT_MIN_WORDS, CleanOptions
from training.corpus.demo import TUXPAINT_DIR, WORDNET_DIR
from training.corpus.prepare import collect_part, fingerprint_of, read_part, write_corpus
from training.corpus.sources import SourceSpec, demo_sources

DEMO_MIN_WORDS = 1
DEMO_MIN_COUNT = 5


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="clean corpora into a prepared corpus (token-id shards, vocabulary, split by image)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("sources (any number, read in this order)")
    src.add_argument(
        "--source", choices=["demo"], help="demo: the Tux Paint stamps + WordNet 3.0 (Debian packages)"
    )
    src.add_argument(
        "--jsonl", action="append", default=[], metavar="FILE", help="JSON Lines records (formats §1)"
    )
    src.add_argument(
        "--flickr8k",
        action="append",
        default=[],
        metavar="DIR",
        help="Flickr8k folder with Flickr8k.token.txt, the split lists and images/",
    )
    src.add_argument("--coco", action="append", default=[], metavar="JSON", help="COCO captions JSON")
    src.add_argument(
        "--coco-images", metavar="DIR", help="folder of the COCO images (default: their coco_url)"
    )
    src.add_argument(
        "--coco-text-only", action="store_true", help="keep COCO captions as text-only sentences"
    )
    src.add_argument(
        "--pinterest",
        action="append",
        default=[],
        metavar="PATH",
        help="Pinterest40M toolbox shard folder or file (shard 98 = val, 99 = test)",
    )
    src.add_argument(
        "--tuxpaint",
        action="append",
        default=[],
        metavar="DIR",
        help=f"Tux Paint stamps tree (the demo uses {TUXPAINT_DIR})",
    )
    src.add_argument(
        "--wordnet",
        action="append",
        default=[],
        metavar="DIR",
        help=f"WordNet 3.0 dict folder with data.noun etc. (the demo uses {WORDNET_DIR})",
    )
    p.add_argument("--out", required=True, type=Path, help="output corpus directory")
    p.add_argument(
        "--min-words",
        type=int,
        default=None,
        help=f"drop sentences shorter than this many words (default {DEFAULT_MIN_WORDS}, the paper's; "
        f"{DEMO_MIN_WORDS} for --source demo, whose descriptions are 2-3 words)",
    )
    p.add_argument(
        "--dedup-threshold",
        type=float,
        default=DEFAULT_DEDUP_THRESHOLD,
        help="drop a sentence whose word-unigram Jaccard overlap with an earlier sentence of the same "
        f"image is >= this (default {DEFAULT_DEDUP_THRESHOLD})",
    )
    p.add_argument("--no-dedup", action="store_true", help="keep near-duplicate sentences")
    p.add_argument(
        "--max-words", type=int, default=None, help="truncate longer sentences (default: no limit)"
    )
    p.add_argument(
        "--min-count",
        default=None,
        help="vocabulary minimum count, or 'auto' (default: auto = the paper's 50 at 3B tokens scaled "
        f"by sqrt(tokens/3B), within [2, 50]; {DEMO_MIN_COUNT} for --source demo)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.05,
        help="share of images (by a stable hash of the image id) put in val when the source has no "
        "official split (default 0.05)",
    )
    p.add_argument(
        "--text-split",
        choices=["train", "hash"],
        default=None,
        help="text-only records all go to train, or are hash-split like images (default: train; "
        "hash for --source demo, so that its val split has WordNet text too)",
    )
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    p.add_argument("--shard-tokens", type=int, default=50_000_000, help="tokens per .bin shard (default 50M)")
    p.add_argument(
        "--num-shards",
        type=int,
        default=1,
        help="split the work into this many parts (for parallel jobs; record i goes to part i %% n)",
    )
    p.add_argument(
        "--shard-index",
        type=int,
        default=None,
        help="with --num-shards: prepare only this part, into --parts-dir",
    )
    p.add_argument(
        "--merge", action="store_true", help="with --num-shards: merge the finished parts into --out"
    )
    p.add_argument("--parts-dir", type=Path, default=None, help="where parts go (default: OUT.parts)")
    p.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def sources_of(args: argparse.Namespace) -> list[SourceSpec]:
    specs: list[SourceSpec] = []
    if args.source == "demo":
        specs.extend(demo_sources())
    specs += [SourceSpec("jsonl", str(p)) for p in args.jsonl]
    specs += [SourceSpec("flickr8k", str(p)) for p in args.flickr8k]
    specs += [SourceSpec("coco", str(p), args.coco_images, args.coco_text_only) for p in args.coco]
    specs += [SourceSpec("pinterest", str(p)) for p in args.pinterest]
    specs += [SourceSpec("tuxpaint", str(p)) for p in args.tuxpaint]
    specs += [SourceSpec("wordnet", str(p)) for p in args.wordnet]
    return specs


def run(args: argparse.Namespace) -> int:
    sources = sources_of(args)
    if not sources:
        print("error: no source given (use --source demo, --jsonl, --flickr8k, --coco, ...)", file=sys.stderr)
        return 2
    demo = args.source == "demo"
    min_words = (
        args.min_words if args.min_words is not None else (DEMO_MIN_WORDS if demo else DEFAULT_MIN_WORDS)
    )
    raw_min_count = (
        args.min_count if args.min_count is not None else (str(DEMO_MIN_COUNT) if demo else "auto")
    )
    min_count = None if raw_min_count == "auto" else int(raw_min_count)
    text_split = args.text_split or ("hash" if demo else "train")
    options = CleanOptions(min_words, None if args.no_dedup else args.dedup_threshold, args.max_words)
    if args.num_shards < 1 or (args.shard_index is not None and not 0 <= args.shard_index < args.num_shards):
        print("error: need 0 <= --shard-index < --num-shards", file=sys.stderr)
        return 2
    if args.num_shards > 1 and args.shard_index is None and not args.merge:
        print("error: with --num-shards > 1 give --shard-index (one part) or --merge", file=sys.stderr)
        return 2
    part_settings = {
        "cleaning": options.__dict__,
        "val_fraction": args.val_fraction,
        "text_split": text_split,
        "num_shards": args.num_shards,
    }
    part_fp = fingerprint_of(sources, part_settings)
    settings = {**part_settings, "min_count": raw_min_count, "shard_tokens": args.shard_tokens}
    corpus_fp = fingerprint_of(sources, settings)
    common = {
        "val_fraction": args.val_fraction,
        "text_split": text_split,
        "workers": args.workers,
        "fingerprint": part_fp,
        "progress": not args.quiet,
    }
    out: Path = args.out
    parts_dir: Path = args.parts_dir or out.with_name(out.name + ".parts")
    try:
        if args.shard_index is not None:
            path = parts_dir / f"part-{args.shard_index:05d}-of-{args.num_shards:05d}"
            if not args.force and up_to_date(path, part_fp):
                print(f"{path}: up to date (same sources and options); --force rebuilds")
                return 0
            with atomic_directory(path) as tmp:
                m = collect_part(
                    tmp, sources, options, shard_index=args.shard_index, num_shards=args.num_shards, **common
                )
            print(json.dumps({"part": str(path), "stats": m["stats"], "malformed": m["malformed"]}, indent=2))
            return 0
        if not args.force and up_to_date(out, corpus_fp):
            print(f"{out}: up to date (same sources and options); --force rebuilds")
            return 0
        write_args = {
            "min_count": min_count,
            "workers": args.workers,
            "shard_tokens": args.shard_tokens,
            "fingerprint": corpus_fp,
            "options": settings,
            "progress": not args.quiet,
        }
        if args.merge:
            parts = [parts_dir / f"part-{i:05d}-of-{args.num_shards:05d}" for i in range(args.num_shards)]
            missing = [str(p) for p in parts if not up_to_date(p, part_fp)]
            if missing:
                print(
                    f"error: parts missing or prepared with other options: {', '.join(missing)}",
                    file=sys.stderr,
                )
                return 1
            for p in parts:
                read_part(p)
            with atomic_directory(out) as tmp:
                manifest = write_corpus(tmp, parts, **write_args)
        else:
            with atomic_directory(out) as tmp:
                part = tmp / ".part"
                part.mkdir()
                collect_part(part, sources, options, **common)
                manifest = write_corpus(tmp, [part], **write_args)
                shutil.rmtree(part)
    except (FileNotFoundError, ArtifactError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = {
        k: manifest[k] for k in ("num_images", "num_sentences", "num_tokens", "vocab_size", "min_count")
    }
    print(
        json.dumps(
            {
                "corpus": str(out),
                **summary,
                "steps": manifest["steps"],
                "splits": manifest["splits"],
                "malformed": manifest["malformed"],
            },
            indent=2,
        )
    )
    return 0
