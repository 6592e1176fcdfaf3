"""Readers for the corpus formats real users have, each yielding `Record`s and reporting malformed input.

- `read_jsonl`: the documented generic format (docs/formats.md §1), one `{"image", "sentences", "id"}` a line.
- `read_flickr8k`: `Flickr8k.token.txt` (`IMAGE.jpg#N<TAB>caption`) with the official split lists beside it.
- `read_coco`: a COCO captions JSON (`images`, `annotations`).
- `read_pinterest`: the released Pinterest40M toolbox shards (numpy-pickled lists of dicts with
  `image_name`, `url`, `sentences`; shards 0-97 train, 98 val, 99 test).

A malformed record is counted in the `Problems` object with its file and line and skipped; it never stops
the run.
Used by `python -m training prepare` (see `training/corpus/prepare_cli.py`).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from training.corpus.records import Problems, Record, is_url


def _sentences(value: Any) -> list[str] | None:
    """The list of sentence strings, or None when `value` is not a list of strings."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        return None
    return list(value)


def read_jsonl(path: Path, problems: Problems) -> Iterator[Record]:
    """Records of a JSON Lines file; relative image paths are resolved against the file's directory."""
    path = Path(path)
    base = path.resolve().parent
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.add(path, lineno, f"invalid JSON: {exc.msg}", "invalid JSON")
                continue
            if not isinstance(obj, dict):
                problems.add(path, lineno, "not a JSON object", "not a JSON object")
                continue
            sentences = _sentences(obj.get("sentences"))
            if sentences is None:
                problems.add(path, lineno, "'sentences' must be a list of strings", "bad sentences")
                continue
            image = obj.get("image")
            if image is not None and not isinstance(image, str):
                problems.add(path, lineno, "'image' must be a string or null", "bad image")
                continue
            rid = obj.get("id")
            if rid is not None and not isinstance(rid, str | int):
                problems.add(path, lineno, "'id' must be a string or an integer", "bad id")
                continue
            if image and not is_url(image) and not Path(image).is_absolute():
                image = str(base / image)
            if image:
                image_id = str(rid) if rid is not None else str(obj["image"])
                yield Record(sentences=sentences, image_id=image_id, image=image)
            else:
                key = str(rid) if rid is not None else str(lineno)
                yield Record(sentences=sentences, key=f"{path.name}:{key}")


_FLICKR_ID = re.compile(r"^(?P<image>.+?\.jpg)(?P<junk>\.\d+)?#(?P<n>\d+)$")
FLICKR_SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def _flickr_splits(directory: Path) -> dict[str, str]:
    split_of: dict[str, str] = {}
    for split, name in FLICKR_SPLIT_FILES.items():
        path = directory / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    split_of[line.strip()] = split
    return split_of


def read_flickr8k(source: Path, problems: Problems, images_dir: Path | None = None) -> Iterator[Record]:
    """Records of Flickr8k: `source` is the dataset folder (or its `Flickr8k.token.txt`).

    Consecutive caption lines of one image form one record. The split comes from the official
    `Flickr_8k.{train,dev,test}Images.txt` lists when present (dev becomes `val`). An id with a stray suffix
    (`X.jpg.1#0`, one line of the release) is repaired to `X.jpg` and reported.
    """
    source = Path(source)
    token_file = source / "Flickr8k.token.txt" if source.is_dir() else source
    directory = token_file.parent
    images_dir = images_dir or directory / "images"
    split_of = _flickr_splits(directory)
    current: str | None = None
    sentences: list[str] = []

    def emit() -> Record:
        assert current is not None
        return Record(
            sentences=sentences,
            image_id=current,
            image=str(images_dir / current),
            split=split_of.get(current),
        )

    with open(token_file, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            name, tab, caption = line.partition("\t")
            match = _FLICKR_ID.match(name.strip())
            if not tab or match is None:
                problems.add(token_file, lineno, "expected 'IMAGE.jpg#N<TAB>caption'", "malformed line")
                continue
            if match.group("junk"):
                problems.add(
                    token_file, lineno, f"repaired image id {name.split('#')[0]!r}", "repaired image id"
                )
            image = match.group("image")
            if image != current:
                if current is not None and sentences:
                    yield emit()
                current, sentences = image, []
            sentences.append(caption)
    if current is not None and sentences:
        yield emit()


def read_coco(
    path: Path, problems: Problems, images_dir: Path | None = None, text_only: bool = False
) -> Iterator[Record]:
    """Records of a COCO captions JSON: one per image, its annotations' captions in annotation order.

    `text_only=True` yields the captions without their image (for a corpus that has no COCO images).
    The image is `images_dir/file_name` when a folder is given, else the image's `coco_url` (if any).
    """
    path = Path(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.add(path, getattr(exc, "lineno", 0), f"invalid JSON: {exc}", "invalid JSON")
        return
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        problems.add(path, 0, "expected an object with 'images' and 'annotations' lists", "not COCO captions")
        return
    images: dict[Any, dict[str, Any]] = {}
    for i, img in enumerate(data.get("images") or []):
        if isinstance(img, dict) and "id" in img:
            images[img["id"]] = img
        else:
            problems.add(path, 0, f"images[{i}] has no 'id'", "bad image entry")
    captions: dict[Any, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str) or "image_id" not in ann:
            problems.add(
                path, 0, f"annotations[{i}] lacks 'image_id' or a string 'caption'", "bad annotation"
            )
            continue
        captions.setdefault(ann["image_id"], []).append(ann["caption"])
    for image_id, sentences in captions.items():
        img = images.get(image_id)
        if img is None:
            problems.add(path, 0, f"annotation for unknown image_id {image_id!r}", "unknown image_id")
        if text_only:
            yield Record(sentences=sentences, key=f"coco:{image_id}")
            continue
        image: str | None = None
        if img is not None and images_dir is not None and img.get("file_name"):
            image = str(Path(images_dir) / str(img["file_name"]))
        elif img is not None and img.get("coco_url"):
            image = str(img["coco_url"])
        name = str(img.get("file_name")) if img is not None and img.get("file_name") else f"coco-{image_id}"
        yield Record(sentences=sentences, image_id=name, image=image)


PINTEREST_SPLIT = {98: "val", 99: "test"}
_SHARD_NUMBER = re.compile(r"(\d+)(?=\D*$)")


def pinterest_shards(source: Path) -> list[Path]:
    """The shard files of a Pinterest40M folder (`*.npy`), or the single file given."""
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix in (".npy", ".npz", ".pkl"))
    return [source]


def read_pinterest(source: Path, problems: Problems, official_split: bool = True) -> Iterator[Record]:
    """Records of the Pinterest40M toolbox shards under `source` (a folder of shards or one shard file).

    Each shard is a numpy-pickled array/list of dicts `{"image_name", "url", "sentences"}`. With
    `official_split`, shard number 98 is `val`, 99 `test` and the rest `train` (the release's convention).
    """
    for shard in pinterest_shards(source):
        try:
            data = np.load(shard, allow_pickle=True, encoding="latin1")
        except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            problems.add(shard, 0, f"unreadable shard: {exc}", "unreadable shard")
            continue
        if isinstance(data, np.ndarray) and data.shape == ():
            data = data.item()
        number = _SHARD_NUMBER.search(shard.stem)
        split = None
        if official_split and number is not None:
            split = PINTEREST_SPLIT.get(int(number.group(1)), "train")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                problems.add(shard, i + 1, "item is not a dict", "not a dict")
                continue
            sentences = _sentences(_text(item.get("sentences")))
            name, url = _text(item.get("image_name")), _text(item.get("url"))
            if sentences is None or not (name or url):
                problems.add(
                    shard, i + 1, "needs 'sentences' (list of str) and 'image_name' or 'url'", "bad item"
                )
                continue
            image_id = str(name or url)
            yield Record(sentences=sentences, image_id=image_id, image=str(url) if url else None, split=split)


def _text(value: Any) -> Any:
    """Decode bytes (Python 2 pickles) to str, element-wise for lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple | np.ndarray):
        return [_text(v) for v in value]
    return value
