"""PNG charts of embedding comparisons (matplotlib, Agg backend; no display needed).

    from training.charts import comparison_chart
    comparison_chart([("word2vec", {"simlex999": 0.21, "wordsim353": 0.55}),
                      ("model-a", {"simlex999": 0.27, "wordsim353": 0.61})], Path("compare.png"))

`python -m training compare ... --chart compare.png` calls it with its comparison table. The table is a list
of rows `(embeddings name, {benchmark name: metric value or None})`, one row per embeddings, in display order;
a value of None (benchmark not run, or no coverage) is drawn as "n/a". The chart is a grouped bar chart: one
group per benchmark, one bar per embeddings, the value written above each bar. The file is written atomically.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ComparisonTable = Sequence[tuple[str, Mapping[str, float | None]]]

COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]


def _benchmarks(table: ComparisonTable) -> list[str]:
    """Benchmark names in first-seen order across rows."""
    seen: dict[str, None] = {}
    for _name, metrics in table:
        for benchmark in metrics:
            seen.setdefault(benchmark, None)
    return list(seen)


def _check(table: ComparisonTable) -> None:
    if not table:
        raise ValueError("nothing to chart: the comparison table is empty")
    names = [name for name, _ in table]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate embeddings names in the comparison table: {names}")
    for name, metrics in table:
        for benchmark, value in metrics.items():
            if value is not None and not math.isfinite(float(value)):
                raise ValueError(f"{name} / {benchmark}: metric {value!r} is not a finite number")
    if not _benchmarks(table):
        raise ValueError("nothing to chart: no benchmark in the comparison table")


def comparison_chart(
    table: ComparisonTable,
    path: Path,
    *,
    title: str = "Embeddings compared on each benchmark",
    metric_label: str = "score",
    dpi: int = 120,
) -> Path:
    """Draw `table` as a grouped bar chart into the PNG file `path` (replaced atomically); return `path`."""
    _check(table)
    path = Path(path)
    benchmarks = _benchmarks(table)
    rows = len(table)
    width = 0.8 / rows  # bars of one group share 80% of the slot
    fig = Figure(figsize=(max(6.0, 1.2 + 0.5 * rows * len(benchmarks) + 0.6 * len(benchmarks)), 4.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [float(v) for _, m in table for v in m.values() if v is not None]
    low = min([0.0, *values])
    high = max([0.0, *values]) or 1.0
    for r, (name, metrics) in enumerate(table):
        xs = [b + (r - (rows - 1) / 2) * width for b in range(len(benchmarks))]
        heights = [metrics.get(b) for b in benchmarks]
        bars = ax.bar(
            xs,
            [0.0 if h is None else float(h) for h in heights],
            width=width * 0.95,
            label=name,
            color=COLORS[r % len(COLORS)],
        )
        for bar, h in zip(bars, heights, strict=True):
            text = "n/a" if h is None else f"{float(h):.3f}"
            y = bar.get_height() if h is not None and float(h) >= 0 else 0.0
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, y),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
                rotation=90 if rows * len(benchmarks) > 12 else 0,
            )
    rotate = len(benchmarks) > 4
    ax.set_xticks(
        range(len(benchmarks)), benchmarks, rotation=20 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_ylabel(metric_label)
    ax.set_title(title)
    ax.set_ylim(low - 0.05 * (high - low) if low < 0 else 0.0, high + 0.15 * (high - low))
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
