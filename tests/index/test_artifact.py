"""Artifact safety: corrupt files fail to load naming themselves; failed builds keep the previous index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.__main__ import main
from index.build import BuildConfig, build_index
from index.errors import ArtifactError
from index.search import PhraseSearcher

QUIET = BuildConfig(factory="Flat", progress=False)


@pytest.fixture
def built(tmp_path: Path, corpus_dir: Path, corpus_embeddings: Path) -> Path:
    out = tmp_path / "index"
    build_index(corpus_embeddings, out, corpus=corpus_dir, config=QUIET)
    return out


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_index_file_names_itself(built: Path, damage: str) -> None:
    path = built / "index.faiss"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00junk" * 40)
    for verify in (False, True):
        with pytest.raises(ArtifactError) as err:
            PhraseSearcher.load(built, verify=verify)
        assert err.value.path == path


def test_flipped_byte_caught_by_checksum(built: Path) -> None:
    path = built / "index.faiss"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum") as err:
        PhraseSearcher.load(built)
    assert err.value.path == path


def test_inconsistent_phrases_file(built: Path) -> None:
    phrases = built / "phrases.tsv"
    phrases.write_text(phrases.read_text() + "extra phrase\t1\n")
    with pytest.raises(ArtifactError) as err:
        PhraseSearcher.load(built, verify=False)
    assert err.value.path == built / "index.faiss"
    phrases.write_text("bad line without count\n")
    with pytest.raises(ArtifactError, match="line 1") as err:
        PhraseSearcher.load(built, verify=False)
    assert err.value.path == phrases


def test_failed_build_keeps_previous_index(built: Path, corpus_embeddings: Path, tmp_path: Path) -> None:
    before = (built / "manifest.json").read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text("hot dog\t12\nice cream\tmany\n")
    with pytest.raises(ArtifactError, match="line 2") as err:
        build_index(corpus_embeddings, built, phrase_files=[bad], config=QUIET)
    assert err.value.path == bad
    with pytest.raises(ValueError, match="factory"):
        build_index(corpus_embeddings, built, config=BuildConfig(factory="NoSuchIndex", progress=False))
    assert (built / "manifest.json").read_text() == before
    assert PhraseSearcher.load(built).related("hot dog", k=3).hits
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".")] == []


def test_phrase_list_and_oov_policy(tmp_path: Path, corpus_embeddings: Path) -> None:
    listed = tmp_path / "phrases.txt"
    listed.write_text("# comment\nHot Dog\t7\nice cream\nunknownword dog\n\nnew-york city\t3\nhot dog\t2\n")
    out = tmp_path / "ix"
    manifest = build_index(corpus_embeddings, out, phrase_files=[listed], config=QUIET)
    s = PhraseSearcher.load(out)
    counts = dict(zip(s.phrases, s.counts.tolist(), strict=True))
    assert counts["hot dog"] == 7 and counts["new york city"] == 3 and counts["ice cream"] == 0
    assert "unknownword dog" not in counts and manifest["phrase_policy"]["dropped_oov"] == 1
    assert "aaw0" in counts  # without a corpus, words come from the embeddings vocabulary


def test_cli_build_and_query(
    tmp_path: Path, corpus_dir: Path, corpus_embeddings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus_dir / "phrases.tsv").write_text("york hot\t3\n")
    out = tmp_path / "cli-index"
    argv = [
        "build",
        "--embeddings",
        str(corpus_embeddings),
        "--corpus",
        str(corpus_dir),
        "--out",
        str(out),
        "--factory",
        "Flat",
        "--min-count",
        "10",
        "--no-progress",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["factory"] == "Flat" and summary["num_phrases"] > 60
    assert main(["related", "--index", str(out), "hot dog", "-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["hits"]) == 3 and result["normalized"] == "hot dog"
    assert "york hot" in PhraseSearcher.load(out).phrases  # the corpus's own phrase list
    assert main(["related", "--index", str(out), "qqq"]) == 2
    assert main(["info", "--index", str(tmp_path / "missing")]) == 2
    assert "error" in capsys.readouterr().err
    v = np.load(corpus_embeddings / "vectors.npy")
    assert v.shape[1] == 16
