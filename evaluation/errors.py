"""Errors of the evaluation library. They subclass `index.errors.MmweError`, so callers can catch one base."""

from __future__ import annotations

from pathlib import Path

from index.errors import MmweError


class BenchmarkError(MmweError):
    """A benchmark cannot be run as asked (unknown suite or kind, bad option, missing optional data)."""


class BenchmarkFormatError(BenchmarkError):
    """A benchmark file is missing, unreadable or malformed; the message names the file and the line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {reason}")
