"""Comparison tables: built from results, rendered as text, Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation import BenchmarkSpec, build_table, render_table, run_suite
from tests.evaluation.conftest import TOY, MakeEmbeddings


def test_table_like_the_papers_table_3(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("cat\tdog\tcar\ncat\tcar\tdog\n", encoding="utf-8")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("cat\tdog\t8\ncat\tcar\t1\ndog\tcar\t5\n", encoding="utf-8")
    specs = [BenchmarkSpec("clicks", "triplets", path), BenchmarkSpec("pairs", "similarity", pairs)]
    good = run_suite(make_embeddings(TOY, name="good"), specs)
    flipped = {w: [v[1], v[0]] for w, v in TOY.items()}  # cat <-> car axis swap keeps cos(cat,dog) != .8
    other = run_suite(make_embeddings(flipped | {"car": [0.5, 0.5]}, name="other"), specs)
    table = build_table([("Model A", good), ("Pure text", other)])
    assert [c.title for c in table.columns] == ["clicks (accuracy)", "pairs (spearman)"]
    assert table.rows[0].values == [0.5, pytest.approx(1.0)]
    assert table.rows[0].dim == 2 and table.rows[0].model_kind == "text"
    text = render_table(table, "text")
    assert text.splitlines()[1].split() == ["model", "clicks", "(accuracy)", "pairs", "(spearman)", "dim"]
    assert "Model A" in text and "0.500" in text
    markdown = render_table(table, "markdown").splitlines()
    assert markdown[0] == "| model | clicks (accuracy) | pairs (spearman) | dim |"
    assert markdown[1] == "|---|---:|---:|---:|"
    assert markdown[2] == "| Model A | 0.500 | 1.000 | 2 |"
    raw = json.loads(render_table(table, "json"))
    assert raw["rows"][0]["values"] == {"clicks": 0.5, "pairs": pytest.approx(1.0)}
    assert raw["rows"][1]["label"] == "Pure text"
    with pytest.raises(ValueError, match="format"):
        render_table(table, "html")


def test_results_of_different_suites_do_not_mix(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text("cat\tdog\tcar\n", encoding="utf-8")
    b.write_text("cat\tcar\tdog\n", encoding="utf-8")
    emb = make_embeddings(TOY)
    first = run_suite(emb, [BenchmarkSpec("t", "triplets", a)])
    other_file = run_suite(emb, [BenchmarkSpec("t", "triplets", b)])
    other_name = run_suite(emb, [BenchmarkSpec("u", "triplets", a)])
    with pytest.raises(ValueError, match="different file"):
        build_table([("x", first), ("y", other_file)])
    with pytest.raises(ValueError, match="differ"):
        build_table([("x", first), ("y", other_name)])
    with pytest.raises(ValueError, match="nothing"):
        build_table([])
