"""PNG charts of embedding comparisons (matplotlib's Agg canvas: no display, no pyplot global state).

    python -m evaluation compare runs/text/embeddings runs/a/embeddings --chart compare.png

    from evaluation.charts import comparison_chart
    comparison_chart(build_table(results), Path("compare.png"))     # an evaluation ComparisonTable
    comparison_chart([("word2vec", {"simlex999": 0.21, "wordsim353": 0.55}),
                      ("model-a", {"simlex999": 0.27, "wordsim353": 0.61})], Path("compare.png"))

The table is the `ComparisonTable` that `compare` prints (a row per embeddings, a column per benchmark with
its headline metric), or plain rows `(embeddings name, {benchmark name: metric value or None})` in display
order. None (no value, e.g. no coverage) is drawn as "n/a". The chart is a grouped bar chart: one group per
benchmark, one bar per embeddings, the value written above each bar. The file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from evaluation.compare import ComparisonTable
from index.artifacts import atomic_write

Rows = Sequence[tuple[str, Mapping[str, float | None]]]

COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]


def as_rows(table: ComparisonTable | Rows) -> tuple[Rows, dict[str, str], str | None]:
    """Plain rows, the metric shown per benchmark (empty for plain rows), and the suite name if known."""
    if isinstance(table, ComparisonTable):
        rows = [
            (row.label, {c.benchmark: v for c, v in zip(table.columns, row.values, strict=True)})
            for row in table.rows
        ]
        return rows, {c.benchmark: c.metric for c in table.columns}, table.suite
    return table, {}, None


def _benchmarks(rows: Rows) -> list[str]:
    """Benchmark names in first-seen order across rows."""
    seen: dict[str, None] = {}
    for _name, metrics in rows:
        for benchmark in metrics:
            seen.setdefault(benchmark, None)
    return list(seen)


def _check(rows: Rows) -> None:
    if not rows:
        raise ValueError("nothing to chart: the comparison table is empty")
    names = [name for name, _ in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate embeddings names in the comparison table: {names}")
    for name, metrics in rows:
        for benchmark, value in metrics.items():
            if value is not None and not math.isfinite(float(value)):
                raise ValueError(f"{name} / {benchmark}: metric {value!r} is not a finite number")
    if not _benchmarks(rows):
        raise ValueError("nothing to chart: no benchmark in the comparison table")


def comparison_chart(
    table: ComparisonTable | Rows,
    path: Path,
    *,
    title: str | None = None,
    metric_label: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw `table` as a grouped bar chart into the PNG file `path` (replaced atomically); return `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib only when a chart is drawn
    from matplotlib.figure import Figure

    rows, metric_of, suite = as_rows(table)
    _check(rows)
    path = Path(path)
    benchmarks = _benchmarks(rows)
    shown = sorted(set(metric_of.values()))
    if title is None:
        title = "Embeddings compared" + (f" on suite '{suite}'" if suite else " on each benchmark")
    if metric_label is None:
        metric_label = shown[0] if len(shown) == 1 else "score"
    labels = [f"{b}\n({metric_of[b]})" if len(shown) > 1 else b for b in benchmarks]

    n = len(rows)
    width = 0.8 / n  # the bars of one group share 80% of the slot
    fig = Figure(figsize=(max(6.0, 1.2 + 0.5 * n * len(benchmarks) + 0.6 * len(benchmarks)), 4.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [float(v) for _, m in rows for v in m.values() if v is not None]
    low, high = min([0.0, *values]), max([0.0, *values]) or 1.0
    crowded = n * len(benchmarks) > 12
    for r, (name, metrics) in enumerate(rows):
        xs = [b + (r - (n - 1) / 2) * width for b in range(len(benchmarks))]
        heights = [metrics.get(b) for b in benchmarks]
        bars = ax.bar(
            xs,
            [0.0 if h is None else float(h) for h in heights],
            width=width * 0.95,
            label=name,
            color=COLORS[r % len(COLORS)],
        )
        for bar, h in zip(bars, heights, strict=True):
            ax.annotate(
                "n/a" if h is None else f"{float(h):.3f}",
                (bar.get_x() + bar.get_width() / 2, max(0.0, bar.get_height())),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                rotation=90 if crowded else 0,
            )
    rotate = len(benchmarks) > 4
    ax.set_xticks(
        range(len(benchmarks)), labels, rotation=20 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_ylabel(metric_label)
    ax.set_title(title)
    ax.set_ylim(low - 0.05 * (high - low) if low < 0 else 0.0, high + 0.15 * (high - low))
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    return path
