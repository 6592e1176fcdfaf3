"""`python -m index export|import`: embeddings to and from word2vec (text/binary) and Embedding Projector TSV.

python -m index export data/embeddings/demo-a --format word2vec demo-a.txt
python -m index export data/embeddings/demo-a --format tsv projector/      # vectors.tsv + metadata.tsv
python -m index import vectors.bin --format word2vec-binary --out data/embeddings/mine

Formats and the import's word normalisation: index/interchange.py, docs/formats.md §4.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from index.artifacts import load_embeddings
from index.interchange import FORMATS, export_embeddings, import_embeddings


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write embeddings as word2vec / word2vec-binary / tsv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("embeddings", type=Path, help="mmwe.embeddings directory (or an index's embeddings/)")
    p.add_argument("out", type=Path, help="output file (word2vec, word2vec-binary) or folder (tsv)")
    p.add_argument("--format", choices=FORMATS, required=True, help="output format")
    p.set_defaults(func=run_export)
    p = sub.add_parser(
        "import",
        help="read word2vec / word2vec-binary / tsv vectors into an mmwe.embeddings artifact",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", type=Path, help="the vectors file (for tsv: vectors.tsv or its folder)")
    p.add_argument("--format", choices=FORMATS, required=True, help="input format")
    p.add_argument("--out", type=Path, required=True, help="mmwe.embeddings directory to write (atomically)")
    p.add_argument(
        "--metadata", type=Path, help="tsv: the words file (default: metadata.tsv beside vectors.tsv)"
    )
    p.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    emb = load_embeddings(args.embeddings, verify=True)
    files = export_embeddings(emb, args.format, args.out)
    print(json.dumps({"words": len(emb.words), "dim": emb.dim, "files": [str(f) for f in files]}))
    return 0


def run_import(args: argparse.Namespace) -> int:
    manifest = import_embeddings(args.source, args.format, args.out, metadata=args.metadata)
    print(json.dumps({"out": str(args.out), **manifest["training"]["import"], "dim": manifest["dim"]}))
    return 0
