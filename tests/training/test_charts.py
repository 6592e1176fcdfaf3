"""`training.charts.comparison_chart`: a real PNG, one bar per (embeddings, benchmark), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.charts import comparison_chart

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
