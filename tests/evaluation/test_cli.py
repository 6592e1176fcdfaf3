"""`python -m evaluation evaluate|compare|build-triplets` end to end on small real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation import BenchmarkSpec, SuiteResult, run_suite
from evaluation.__main__ import main
from index.artifacts import load_embeddings, write_embeddings

TOY = {"cat": [1.0, 0.0], "dog": [0.8, 0.6], "car": [0.0, 1.0], "truck": [0.0, 2.0], "red": [1.0, 1.0]}


def _embeddings(path: Path, vectors: dict[str, list[float]], kind: str = "text") -> Path:
    words = list(vectors)
    matrix = np.asarray([vectors[w] for w in words], dtype=np.float32)
    write_embeddings(
        path, words, [10] * len(words), matrix, model_kind=kind, corpus={}, training={}, metrics={}, seed=0
    )
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    triplets = tmp_path / "clicks.tsv"
    triplets.write_text(
        "cat\tdog\tcar\ncat\tcar\tdog\nred car\tcar\tcat\ncat\tdog\tzebra\n", encoding="utf-8"
    )
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("word1,word2,score\ncat,dog,8\ncat,car,1\ndog,car,5\n", encoding="utf-8")
    return {
        "a": _embeddings(tmp_path / "a" / "embeddings", TOY, "a"),
        "b": _embeddings(tmp_path / "text", {**TOY, "dog": [0.0, 1.0]}),
        "triplets": triplets,
        "pairs": pairs,
    }


def test_evaluate_writes_the_same_numbers_as_run_suite(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    args = [
        "evaluate",
        str(files["a"]),
        "--triplets",
        str(files["triplets"]),
        "--similarity",
        str(files["pairs"]),
    ]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "clicks" in printed and "accuracy" in printed and "95% CI" in printed
    result = SuiteResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
    assert result.suite == "files"
    specs = [
        BenchmarkSpec("clicks", "triplets", files["triplets"]),
        BenchmarkSpec("pairs", "similarity", files["pairs"]),
    ]
    direct = run_suite(load_embeddings(files["a"]), specs)
    assert [b.metrics for b in result.benchmarks] == [b.metrics for b in direct.benchmarks]
    assert result.benchmark("clicks").metrics["accuracy"] == pytest.approx(2 / 3)


def test_evaluate_default_suite_as_json(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gensim")
    assert main(["evaluate", str(files["a"]), "--format", "json", "--quiet"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in raw["benchmarks"]] == ["ws353", "simlex999", "analogy"]


def test_compare_table(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "results"
    args = ["compare", str(files["a"]), str(files["b"]), "--triplets", str(files["triplets"]), "--quiet"]
    assert (
        main([*args, "--format", "markdown", "--results-dir", str(saved), "--label", "A", "--label", "text"])
        == 0
    )
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0] == "| model | clicks (accuracy) | dim |"
    assert table[2] == "| A | 0.667 | 2 |"
    # with dog moved onto car's axis: cat/dog/car is now a tie (wrong), cat/car/dog too, red car/car/cat right
    assert table[3] == "| text | 0.333 | 2 |"
    saved_results = sorted(saved.iterdir())
    assert [p.name for p in saved_results] == ["00-a.json", "01-text.json"]
    # saved results can be compared again without re-running
    assert (
        main(["compare", *map(str, saved_results), "--triplets", str(files["triplets"]), "--format", "json"])
        == 0
    )
    raw = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in raw["rows"]] == ["00-a", "01-text"]
    assert raw["rows"][0]["values"]["clicks"] == pytest.approx(2 / 3)


def test_build_triplets_from_clicks_and_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.tsv"
    log.write_text(
        "hair style\tponytail\t10\nhair style\tbraided hair\t12\nkarting\tgo carts\t7\n", encoding="utf-8"
    )
    pool = tmp_path / "pool.txt"
    pool.write_text("hair clip\ngo cart\n", encoding="utf-8")
    out = tmp_path / "triplets.tsv"
    assert (
        main(["build-triplets", "clicks", str(log), "-o", str(out), "--pool", str(pool), "--seed", "3"]) == 0
    )
    stats = json.loads(capsys.readouterr().out)
    assert stats["triplets"] == 2 and stats["dropped_shared_stem"] == 1
    assert out.read_text(encoding="utf-8").splitlines() == [
        "base\tpositive\tnegative",
        "hair style\tponytail\tgo cart",
        "karting\tgo carts\thair clip",
    ]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a;b;s\ncat;dog;8\ncat;car;1\n", encoding="utf-8")
    out2 = tmp_path / "from_pairs.tsv"
    cmd = ["build-triplets", "pairs", str(pairs), "-o", str(out2), "--high", "7", "--low", "3"]
    assert main([*cmd, "--word1", "a", "--word2", "b", "--score", "s", "--delimiter", ";"]) == 0
    assert out2.read_text(encoding="utf-8").splitlines()[1:] == ["cat\tdog\tcar"]


def test_errors_are_one_clear_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("cat\tdog\tcar\ncat\tdog\n", encoding="utf-8")
    assert main(["evaluate", str(files["a"]), "--triplets", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 2: expected 3 tab-separated fields" in err
    assert main(["evaluate", str(tmp_path / "missing"), "--triplets", str(bad), "--quiet"]) == 2
    assert "not a directory" in capsys.readouterr().err
    out = tmp_path / "keep.json"
    out.write_text("previous", encoding="utf-8")
    assert main(["evaluate", str(files["a"]), "--triplets", str(bad), "--out", str(out), "--quiet"]) == 2
    assert out.read_text(encoding="utf-8") == "previous"
    assert main(["compare", str(files["a"]), "--label", "x", "--label", "y", "--triplets", str(bad)]) == 2
    assert "2 --label values for 1 inputs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["evaluate"], ["compare"], ["build-triplets", "clicks"], ["build-triplets", "pairs"]]
)
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "--" in capsys.readouterr().out


def test_training_aliases_run_the_same_command_and_say_where_it_moved(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from training.__main__ import main as training_main

    args = ["evaluate", str(files["a"]), "--triplets", str(files["triplets"]), "--format", "json", "--quiet"]
    assert main(args) == 0
    moved = capsys.readouterr()
    assert training_main(args) == 0
    alias = capsys.readouterr()
    drop = ("created_at", "seconds")
    strip = lambda raw: {k: v for k, v in json.loads(raw).items() if k not in drop}  # noqa: E731
    assert strip(alias.out)["benchmarks"][0]["metrics"] == strip(moved.out)["benchmarks"][0]["metrics"]
    assert "moved to `python -m evaluation evaluate`" in alias.err
    assert "moved" not in moved.err
    with pytest.raises(SystemExit):
        training_main(["--help"])
    assert "moved to `python -m evaluation compare`" in capsys.readouterr().out
