"""Standard formats out and in: every export read back by gensim, every import read back by mmwe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.__main__ import main
from index.artifacts import Embeddings, load_embeddings, write_embeddings
from index.errors import MmweError
from index.interchange import export_embeddings, import_embeddings

gensim_models = pytest.importorskip("gensim.models", reason="gensim (train extra) reads the exported files")


def _embeddings(tmp_path: Path, words: list[str], dim: int = 7) -> Embeddings:
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((len(words), dim)) * 10 ** rng.uniform(-8, 3, (len(words), 1))).astype(
        np.float32
    )
    write_embeddings(
        tmp_path / "emb",
        words,
        list(range(len(words), 0, -1)),
        vectors,
        model_kind="a",
        corpus={},
        training={},
        metrics={},
        seed=0,
    )
    return load_embeddings(tmp_path / "emb", verify=True)


WORDS = ["dog", "café", "hot", "x1", "naïve", "über", "a"] + [f"w{i}" for i in range(1200)]


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "tsv"])
def test_export_reads_back_in_gensim_and_imports_exactly(tmp_path: Path, fmt: str) -> None:
    emb = _embeddings(tmp_path, WORDS)
    out = tmp_path / ("projector" if fmt == "tsv" else "vectors.out")
    assert main(["export", str(tmp_path / "emb"), str(out), "--format", fmt]) == 0
    if fmt == "tsv":
        rows = (out / "vectors.tsv").read_text(encoding="utf-8").splitlines()
        assert (out / "metadata.tsv").read_text(encoding="utf-8").splitlines() == WORDS
        got = np.asarray([[float(x) for x in r.split("\t")] for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(got, emb.vectors)
    else:
        kv = gensim_models.KeyedVectors.load_word2vec_format(str(out), binary=fmt == "word2vec-binary")
        assert list(kv.index_to_key) == WORDS
        np.testing.assert_array_equal(kv.vectors, emb.vectors)  # 9 significant digits: float32 exactly
    back = tmp_path / "back"
    assert main(["import", str(out), "--format", fmt, "--out", str(back)]) == 0
    again = load_embeddings(back, verify=True)
    assert again.words == WORDS and again.manifest["model_kind"] == "imported"
    np.testing.assert_array_equal(again.vectors, emb.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_import_reads_what_gensim_writes(tmp_path: Path, binary: bool) -> None:
    kv = gensim_models.KeyedVectors(vector_size=5)
    # a binary file cannot hold a word with a space (the space ends the word), so that case is text-only
    words = ["Dog", "dog", "New_York" if binary else "New York", "cat", "--", "Éclair"]
    vectors = np.arange(30, dtype=np.float32).reshape(6, 5) / 7
    kv.add_vectors(words, vectors)
    path = tmp_path / "g.bin"
    kv.save_word2vec_format(str(path), binary=binary)
    fmt = "word2vec-binary" if binary else "word2vec"
    manifest = import_embeddings(path, fmt, tmp_path / "imp")
    emb = load_embeddings(tmp_path / "imp")
    assert emb.words == ["dog", "cat", "éclair"]  # normalised; first "dog" kept; multi-token words dropped
    np.testing.assert_allclose(emb.vectors, vectors[[0, 3, 5]], rtol=1e-6)
    info = manifest["training"]["import"]
    assert (info["dropped_duplicate"], info["dropped_not_one_token"], info["kept"]) == (1, 2, 3)


def test_bad_files_name_themselves(tmp_path: Path) -> None:
    emb = _embeddings(tmp_path, WORDS[:20])
    binary = tmp_path / "v.bin"
    export_embeddings(emb, "word2vec-binary", binary)
    truncated = tmp_path / "t.bin"
    truncated.write_bytes(binary.read_bytes()[:-50])
    text = tmp_path / "v.txt"
    export_embeddings(emb, "word2vec", text)
    lines = text.read_text(encoding="utf-8").splitlines()
    cases = {
        truncated: ("word2vec-binary", "truncated"),
        tmp_path / "short.txt": ("word2vec", "ends after 19 of the words"),
        tmp_path / "nan.txt": ("word2vec", "NaN"),
        tmp_path / "hdr.txt": ("word2vec", "header"),
        tmp_path / "dim.txt": ("word2vec", "line 3: expected a word and 7 numbers"),
        tmp_path / "missing.txt": ("word2vec", "missing file"),
    }
    (tmp_path / "short.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    (tmp_path / "nan.txt").write_text("1 7\ndog " + " ".join(["nan"] * 7) + "\n", encoding="utf-8")
    (tmp_path / "hdr.txt").write_text("dog 1 2 3\n", encoding="utf-8")
    (tmp_path / "dim.txt").write_text("\n".join([lines[0], lines[1], "cat 1 2"]) + "\n", encoding="utf-8")
    for path, (fmt, message) in cases.items():
        with pytest.raises(MmweError, match=message) as err:
            import_embeddings(path, fmt, tmp_path / "never")
        assert str(path) in str(err.value)
        assert not (tmp_path / "never").exists()
    export_embeddings(emb, "tsv", tmp_path / "proj")
    (tmp_path / "proj" / "metadata.tsv").write_text("dog\n", encoding="utf-8")
    with pytest.raises(MmweError, match="1 words for the 20 rows"):
        import_embeddings(tmp_path / "proj", "tsv", tmp_path / "never")
    assert main(["import", str(truncated), "--format", "word2vec-binary", "--out", str(tmp_path / "n")]) == 2
