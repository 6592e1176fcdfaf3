"""Parsing of the served models' configuration: `MMWE_INDEXES` (named indexes) and `MMWE_AB_SPLIT`.

Pure functions (no app imports), called by `Settings` validation, so a bad value stops the start with a
message naming the variable:

    MMWE_INDEXES=a=index/a,w2v=/srv/indexes/w2v     # name=dir, comma-separated; the first is the default
    MMWE_AB_SPLIT=a:90,w2v:10                       # name:weight; weights are relative (here 90% / 10%)
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"[a-z0-9_-]{1,32}")
DEFAULT_MODEL = "default"  # the one model served when MMWE_INDEXES is unset
MAX_MODELS = 16
MAX_WEIGHT = 1_000_000


def check_name(name: str, setting: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"{setting}: model name {name!r} must match [a-z0-9_-]{{1,32}}")
    return name


def parse_indexes(text: str) -> dict[str, Path]:
    """`name=dir,name=dir` -> {name: dir} in the order given (ValueError naming what is wrong)."""
    models: dict[str, Path] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, directory = entry.partition("=")
        name, directory = name.strip(), directory.strip()
        if not sep or not directory:
            raise ValueError(f"MMWE_INDEXES: entry {entry!r} is not NAME=DIRECTORY")
        check_name(name, "MMWE_INDEXES")
        if name in models:
            raise ValueError(f"MMWE_INDEXES: model {name!r} is named twice")
        models[name] = Path(directory)
    if not models:
        raise ValueError("MMWE_INDEXES: no model given (unset it to serve one model from MMWE_INDEX_DIR)")
    if len(models) > MAX_MODELS:
        raise ValueError(f"MMWE_INDEXES: at most {MAX_MODELS} models")
    return models


def parse_split(text: str, models: list[str]) -> list[tuple[str, int]]:
    """`name:weight,...` -> [(name, weight)] (weights relative, at least one positive, names served)."""
    arms: list[tuple[str, int]] = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, weight = entry.partition(":")
        name = name.strip()
        try:
            value = int(weight.strip()) if sep else -1
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_WEIGHT:
            raise ValueError(f"MMWE_AB_SPLIT: entry {entry!r} is not NAME:WEIGHT (an integer 0-{MAX_WEIGHT})")
        check_name(name, "MMWE_AB_SPLIT")
        if name not in models:
            raise ValueError(f"MMWE_AB_SPLIT: model {name!r} is not served (models: {', '.join(models)})")
        if any(name == n for n, _ in arms):
            raise ValueError(f"MMWE_AB_SPLIT: model {name!r} is named twice")
        arms.append((name, value))
    if sum(w for _, w in arms) <= 0:
        raise ValueError("MMWE_AB_SPLIT: the weights must add up to more than 0")
    return arms
