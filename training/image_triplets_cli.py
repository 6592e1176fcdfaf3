"""`python -m training image-triplets`: a triplet benchmark from the captions of held-out photos.

    python -m training image-triplets --flickr8k ../shared/data/flickr8k --corpus data/corpus/fc \
        -o data/bench/flickr8k-test-words.tsv
    python -m training image-triplets --flickr8k DIR --corpus DIR --phrase-words 2 -o phrases.tsv

Positives are terms from another caption of the same photo, negatives terms of an unrelated photo
(evaluation/image_triplets.py). Uses Flickr8k's test photos only (`--split`), so no model trained on
the prepared corpus (train split) has seen these captions. Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evaluation.builder import write_triplets
from evaluation.cli import _guarded
from evaluation.image_triplets import read_flickr8k_captions, triplets_from_captions
from index.corpus import SPECIALS, PreparedCorpus

SPLIT_FILES = {"test": "Flickr_8k.testImages.txt", "dev": "Flickr_8k.devImages.txt"}


def cmd_build(args: argparse.Namespace) -> int:
    root = Path(args.flickr8k)
    captions = read_flickr8k_captions(root / "Flickr8k.token.txt", root / SPLIT_FILES[args.split])
    vocab = set(PreparedCorpus(Path(args.corpus)).words[len(SPECIALS) :]) if args.corpus else None
    triplets, stats = triplets_from_captions(
        captions, per_image=args.per_image, phrase_words=args.phrase_words, seed=args.seed, vocab=vocab
    )
    write_triplets(Path(args.out), triplets)
    print(json.dumps({"out": args.out, "images": len(captions), **stats.to_dict()}, indent=2, sort_keys=True))
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "image-triplets",
        help="build a triplet benchmark from the captions of held-out Flickr8k photos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--flickr8k", required=True, help="Flickr8k folder (Flickr8k.token.txt and the split lists)"
    )
    p.add_argument("--split", choices=sorted(SPLIT_FILES), default="test", help="which photos (default test)")
    p.add_argument("--corpus", help="prepared corpus: keep only terms whose words are in its vocabulary")
    p.add_argument("-o", "--out", required=True, help="triplet file to write")
    p.add_argument("--per-image", type=int, default=5, help="triplets per photo (default 5)")
    p.add_argument("--phrase-words", type=int, default=1, help="words per term: 1 (words) or 2 (phrases)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_guarded(cmd_build))
