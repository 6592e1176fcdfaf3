"""Side-by-side comparison of several embeddings on one suite, laid out like the paper's Table 3.

`build_table` turns results into a `ComparisonTable` (pure data); `render_table` prints it as text, Markdown
or JSON. Keeping the two apart lets other outputs (a chart, an HTML page) reuse the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evaluation.results import SuiteResult

FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True)
class Column:
    benchmark: str
    metric: str

    @property
    def title(self) -> str:
        return f"{self.benchmark} ({self.metric})"


@dataclass(frozen=True)
class Row:
    label: str
    model_kind: str | None
    dim: int | None
    values: list[float | None]  # one per column
    coverage: list[float | None]  # one per column


@dataclass(frozen=True)
class ComparisonTable:
    suite: str
    columns: list[Column]
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "columns": [{"benchmark": c.benchmark, "metric": c.metric} for c in self.columns],
            "rows": [
                {
                    "label": r.label,
                    "model_kind": r.model_kind,
                    "dim": r.dim,
                    "values": {c.benchmark: v for c, v in zip(self.columns, r.values, strict=True)},
                    "coverage": {c.benchmark: v for c, v in zip(self.columns, r.coverage, strict=True)},
                }
                for r in self.rows
            ],
        }


def build_table(
    results: Sequence[tuple[str, SuiteResult]], *, metrics: Mapping[str, str] | None = None
) -> ComparisonTable:
    """One row per (label, result); one column per benchmark of the first result, showing its primary
    metric unless `metrics` maps the benchmark name to another metric. Every result must cover the same
    benchmarks."""
    if not results:
        raise ValueError("nothing to compare")
    first = results[0][1]
    metrics = metrics or {}
    columns = [Column(b.name, metrics.get(b.name, b.primary_metric)) for b in first.benchmarks]
    rows: list[Row] = []
    for label, result in results:
        names = [b.name for b in result.benchmarks]
        if names != [c.benchmark for c in columns]:
            raise ValueError(f"{label}: benchmarks {names} differ from {[c.benchmark for c in columns]}")
        for column, bench in zip(columns, result.benchmarks, strict=True):
            reference = first.benchmark(column.benchmark)
            if bench.sha256 != reference.sha256:
                raise ValueError(
                    f"{label}: benchmark {bench.name!r} was run on a different file ({bench.path})"
                )
        manifest = result.embeddings_manifest
        dim = manifest.get("dim")
        rows.append(
            Row(
                label=label,
                model_kind=manifest.get("model_kind"),
                dim=int(dim) if isinstance(dim, int) else None,
                values=[result.benchmark(c.benchmark).metrics.get(c.metric) for c in columns],
                coverage=[result.benchmark(c.benchmark).metrics.get("coverage") for c in columns],
            )
        )
    return ComparisonTable(suite=first.suite, columns=columns, rows=rows)


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _grid(table: ComparisonTable) -> tuple[list[str], list[list[str]]]:
    header = ["model", *[c.title for c in table.columns], "dim"]
    body = [[r.label, *[_cell(v) for v in r.values], "" if r.dim is None else str(r.dim)] for r in table.rows]
    return header, body


def render_table(table: ComparisonTable, fmt: str = "text") -> str:
    """The table as aligned text, a Markdown table, or JSON."""
    if fmt == "json":
        return json.dumps(table.to_dict(), indent=2, sort_keys=True, allow_nan=False)
    header, body = _grid(table)
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    if fmt != "text":
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(
        [f"suite: {table.suite}", line(header), "  ".join("-" * w for w in widths), *map(line, body)]
    )
