"""Errors of the evaluation library. They subclass `index.errors.MmweError`, so callers can catch one base."""

from __future__ import annotations

import re
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


TOKEN_CHARS = 24
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;+-]")


def token(text: str, limit: int = TOKEN_CHARS) -> str:
    """A short, sanitised quote of file content for an error message: at most `limit` characters of
    letters, digits, space and `_.,:;+-` (anything else becomes `?`), quoted. Error messages can reach people
    who may not read the file (a benchmark file named by an admin, an error stored with a run), so they
    never carry more of it than this."""
    cut = text[:limit]
    return repr(_UNSAFE.sub("?", cut) + ("..." if len(text) > limit else ""))
