"""Which readers a preparation run uses: `SourceSpec`s built from the CLI, chained into one record stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.corpus.demo import TUXPAINT_DIR, WORDNET_DIR, read_tuxpaint, read_wordnet
from training.corpus.readers import read_coco, read_flickr8k, read_jsonl, read_pinterest
from training.corpus.records import Problems, Record

KINDS = ("jsonl", "flickr8k", "coco", "pinterest", "tuxpaint", "wordnet")


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    path: str
    images: str | None = None  # image folder (COCO, Flickr8k) when not the default
    text_only: bool = False  # drop the images, keep the sentences as text-only records

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = _path_fingerprint(Path(self.path))
        return data


def demo_sources(tuxpaint: Path = TUXPAINT_DIR, wordnet: Path = WORDNET_DIR) -> list[SourceSpec]:
    return [SourceSpec("tuxpaint", str(tuxpaint)), SourceSpec("wordnet", str(wordnet))]


def _path_fingerprint(path: Path) -> list[Any]:
    """Size and mtime of a file, or of every file in a folder's top level (cheap change detection)."""
    if path.is_file():
        st = path.stat()
        return [st.st_size, int(st.st_mtime)]
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.is_file())
        return [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in entries[:1000]]
    return []


def open_source(spec: SourceSpec, problems: Problems) -> Iterator[Record]:
    path = Path(spec.path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {spec.kind} source not found")
    images = Path(spec.images) if spec.images else None
    records: Iterator[Record]
    if spec.kind == "jsonl":
        records = read_jsonl(path, problems)
    elif spec.kind == "flickr8k":
        records = read_flickr8k(path, problems, images)
    elif spec.kind == "coco":
        records = read_coco(path, problems, images, text_only=spec.text_only)
    elif spec.kind == "pinterest":
        records = read_pinterest(path, problems)
    elif spec.kind == "tuxpaint":
        records = read_tuxpaint(path, problems)
    elif spec.kind == "wordnet":
        records = read_wordnet(path, problems)
    else:
        raise ValueError(f"unknown source kind {spec.kind!r} (one of {', '.join(KINDS)})")
    if spec.text_only and spec.kind != "coco":
        return (Record(sentences=r.sentences, key=r.key, split=r.split, phrases=r.phrases) for r in records)
    return records


def iter_records(specs: list[SourceSpec], problems: Problems) -> Iterator[Record]:
    return itertools.chain.from_iterable(open_source(spec, problems) for spec in specs)
