"""Errors raised by the index package. `app/` maps them to HTTP responses."""

from __future__ import annotations

from pathlib import Path


class MmweError(Exception):
    """Base of every error this project raises on purpose."""


class ArtifactError(MmweError):
    """An artifact directory is missing, corrupt, of the wrong format or of an unsupported version."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class QueryError(MmweError):
    """A query cannot be answered as asked (e.g. it has no known word)."""
