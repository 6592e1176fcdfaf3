"""The one internal record every corpus reader yields, and the malformed-input report they share.

Readers live in `training/corpus/readers.py` (real-user formats) and `training/corpus/demo.py` (Tux Paint,
WordNet). `python -m training prepare --help` shows how a run picks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLITS = ("train", "val", "test")


def is_url(ref: str) -> bool:
    """Whether an image reference is a web address (fetched with --download) rather than a file path."""
    return ref.startswith(("http://", "https://"))


@dataclass
class Record:
    """One image with its raw sentences, or a text-only group of sentences (`image_id is None`).

    `key` identifies the record for the hash split (the image id, or source + line for text-only records);
    `split` is a split imposed by the source itself (an official split list), else None;
    `phrases` are multi-word expressions the source vouches for (WordNet lemmas), offered to the phrase index.
    """

    sentences: list[str]
    image_id: str | None = None
    image: str | None = None
    key: str = ""
    split: str | None = None
    phrases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.image_id or ""


@dataclass
class Problems:
    """Malformed input seen while reading: counted, and the first `keep` kept with file and line."""

    keep: int = 200
    count: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, path: Path | str, line: int, reason: str, kind: str | None = None) -> None:
        """Record one problem at `path:line` (line 0 = the whole file). `kind` groups the counts."""
        self.count += 1
        group = kind or reason
        self.by_reason[group] = self.by_reason.get(group, 0) + 1
        if len(self.examples) < self.keep:
            self.examples.append((str(path), int(line), reason))

    def merge(self, other: Problems) -> None:
        self.count += other.count
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n
        room = self.keep - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "by_reason": dict(self.by_reason), "examples_kept": len(self.examples)}

    def write_tsv(self, path: Path) -> None:
        """`file<TAB>line<TAB>reason`, the first `keep` problems."""
        with open(path, "w", encoding="utf-8") as f:
            for file, line, reason in self.examples:
                f.write(f"{_one_line(file)}\t{line}\t{_one_line(reason)}\n")

    @classmethod
    def read_tsv(cls, path: Path, count: int, by_reason: dict[str, int]) -> Problems:
        problems = cls(count=count, by_reason=dict(by_reason))
        if path.exists():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t", 2)
                    if len(parts) == 3:
                        problems.examples.append((parts[0], int(parts[1]), parts[2]))
        return problems


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
