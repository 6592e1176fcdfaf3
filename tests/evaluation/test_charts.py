"""`evaluation.charts.comparison_chart` and `python -m evaluation compare --chart`: a real PNG, one bar per
(embeddings, benchmark), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.__main__ import main as cli
from evaluation.charts import as_rows, comparison_chart
from evaluation.compare import Column, ComparisonTable, Row
from index.artifacts import write_embeddings

TABLE = [
    ("word2vec", {"simlex999": 0.21, "wordsim353": 0.55, "triplets": 0.62}),
    ("model-a", {"simlex999": 0.27, "wordsim353": 0.61, "triplets": None}),
]
BLUE, RED = (0x25, 0x63, 0xEB), (0xDC, 0x26, 0x26)  # the first two series colours


def pixels_of(image: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((np.abs(image[:, :, :3].astype(int) - np.array(rgb)).sum(axis=2) < 10).sum())


def test_writes_a_png_with_a_bar_per_value(tmp_path: Path) -> None:
    out = comparison_chart(TABLE, tmp_path / "charts" / "compare.png")
    assert out == tmp_path / "charts" / "compare.png"
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width >= 600 and img.height >= 400
        rgb = np.asarray(img.convert("RGB"))
    blue, red = pixels_of(rgb, BLUE), pixels_of(rgb, RED)
    assert blue > 500 and red > 500, "both series are drawn"
    # model-a has no triplets value: its bars cover less area although two of its values are larger.
    assert red < blue * 1.1
    assert [p.name for p in out.parent.iterdir()] == ["compare.png"], "no temporary file left behind"


def test_bar_heights_follow_the_values(tmp_path: Path) -> None:
    small = comparison_chart([("a", {"x": 0.2}), ("b", {"x": 0.8})], tmp_path / "c.png")
    rgb = np.asarray(Image.open(small).convert("RGB"))
    assert pixels_of(rgb, RED) > 3 * pixels_of(rgb, BLUE)


def test_replaces_an_existing_chart(tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    out.write_bytes(b"old")
    comparison_chart(TABLE, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "empty"),
        ([("a", {})], "no benchmark"),
        ([("a", {"x": 0.1}), ("a", {"x": 0.2})], "duplicate"),
        ([("a", {"x": float("nan")})], "not a finite number"),
    ],
)
def test_rejects_bad_tables_and_leaves_no_file(tmp_path: Path, table: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        comparison_chart(table, tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


def _embeddings(out: Path, seed: int) -> Path:
    words = ["dog", "puppy", "cat", "kitten", "car", "truck", "bread", "cheese"]
    rng = np.random.default_rng(seed)
    centres = np.repeat(np.eye(8, dtype=np.float32)[:4] * 2, 2, axis=0)  # pairs of words share a centre
    vectors = centres + rng.normal(0, 0.5 + seed, (8, 8)).astype(np.float32)
    write_embeddings(
        out, words, [10] * 8, vectors, model_kind="a", corpus={}, training={}, metrics={}, seed=seed
    )
    return out


def test_compare_cli_writes_the_chart_of_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "dog\tpuppy\t9\ncat\tkitten\t8\ncar\ttruck\t8\ndog\tcar\t1\nbread\ttruck\t0.5\ncheese\tbread\t7\n"
        "kitten\tcheese\t1\n",
        encoding="utf-8",
    )
    triplets = tmp_path / "triplets.tsv"
    triplets.write_text("dog\tpuppy\tcar\ncat\tkitten\tbread\ncar\ttruck\tcheese\n", encoding="utf-8")
    clean, noisy = _embeddings(tmp_path / "clean", 0), _embeddings(tmp_path / "noisy", 3)
    chart = tmp_path / "out" / "compare.png"
    argv = ["compare", str(clean), str(noisy), "--similarity", str(pairs), "--triplets", str(triplets)]
    assert cli([*argv, "--chart", str(chart), "--quiet", "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in table["rows"]] == ["clean", "noisy"]
    with Image.open(chart) as img:
        assert img.format == "PNG"
        rgb = np.asarray(img.convert("RGB"))
    assert pixels_of(rgb, BLUE) > 300 and pixels_of(rgb, RED) > 300


def test_chart_of_a_comparison_table_labels_each_metric(tmp_path: Path) -> None:
    table = ComparisonTable(
        suite="mine",
        columns=[Column("pairs", "spearman"), Column("triplets", "accuracy")],
        rows=[
            Row("clean", "a", 8, [0.9, 1.0], [1.0, 1.0]),
            Row("noisy", "a", 8, [0.2, None], [1.0, 0.0]),
        ],
    )
    rows, metrics, suite = as_rows(table)
    assert rows == [("clean", {"pairs": 0.9, "triplets": 1.0}), ("noisy", {"pairs": 0.2, "triplets": None})]
    assert metrics == {"pairs": "spearman", "triplets": "accuracy"} and suite == "mine"
    out = comparison_chart(table, tmp_path / "t.png")
    rgb = np.asarray(Image.open(out).convert("RGB"))
    assert pixels_of(rgb, BLUE) > 2 * pixels_of(rgb, RED)
