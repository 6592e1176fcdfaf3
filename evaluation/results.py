"""Typed, JSON-serialisable evaluation results (`SuiteResult.to_json()` / `SuiteResult.from_dict()`).

JSON layout (format "mmwe.evaluation", version 1): suite name, the evaluated embeddings' path and full
manifest, and per benchmark: name, kind, path, sha256 of the file, effective options, metrics (floats or null
when undefined), counts (ints), details (e.g. per-section analogy accuracy), primary_metric and seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

RESULT_FORMAT = "mmwe.evaluation"
RESULT_VERSION = 1


@dataclass(frozen=True)
class BenchmarkResult:
    name: str
    kind: str
    path: str
    sha256: str
    options: dict[str, Any]
    metrics: dict[str, float | None]
    counts: dict[str, int]
    details: dict[str, Any] = field(default_factory=dict)
    primary_metric: str = "accuracy"
    seconds: float = 0.0

    @property
    def primary(self) -> float | None:
        """The headline number: accuracy for triplets and analogies, Spearman's rho for similarity."""
        return self.metrics.get(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    embeddings_path: str | None
    embeddings_manifest: dict[str, Any]
    benchmarks: list[BenchmarkResult]
    created_at: str
    seconds: float = 0.0

    def benchmark(self, name: str) -> BenchmarkResult:
        for result in self.benchmarks:
            if result.name == name:
                return result
        raise KeyError(f"no benchmark named {name!r} in this result ({[b.name for b in self.benchmarks]})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "suite": self.suite,
            "embeddings": {"path": self.embeddings_path, "manifest": self.embeddings_manifest},
            "benchmarks": [b.to_dict() for b in self.benchmarks],
            "created_at": self.created_at,
            "seconds": self.seconds,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SuiteResult:
        if raw.get("format") != RESULT_FORMAT or not isinstance(raw.get("version"), int):
            raise ValueError(f"not an evaluation result (format {raw.get('format')!r})")
        if raw["version"] > RESULT_VERSION:
            raise ValueError(f"evaluation result version {raw['version']} is newer than this build reads")
        return cls(
            suite=raw["suite"],
            embeddings_path=raw["embeddings"]["path"],
            embeddings_manifest=raw["embeddings"]["manifest"],
            benchmarks=[BenchmarkResult(**b) for b in raw["benchmarks"]],
            created_at=raw["created_at"],
            seconds=raw.get("seconds", 0.0),
        )
