from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.artifacts import atomic_directory, load_embeddings, write_embeddings
from index.errors import ArtifactError
from index.text import normalize_phrase, tokenize


def _write(path: Path, words: list[str], seed: int = 0) -> dict:
    vecs = np.random.default_rng(seed).standard_normal((len(words), 4)).astype(np.float32)
    return write_embeddings(
        path,
        words,
        list(range(len(words), 0, -1)),
        vecs,
        model_kind="word2vec",
        corpus={"name": "t"},
        training={},
        metrics={},
        seed=seed,
    )


def test_tokenize_rules() -> None:
    assert tokenize("A Hot-Dog, please!") == ["a", "hot", "dog", "please"]
    assert tokenize("hot_dog  Café 2x") == ["hot", "dog", "café", "2x"]
    assert tokenize("!!! ---") == []
    assert normalize_phrase("  Ice   CREAM ") == "ice cream"


def test_embeddings_round_trip_with_checksums(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "e", ["dog", "cat", "hot"])
    emb = load_embeddings(tmp_path / "e", verify=True)
    assert emb.words == ["dog", "cat", "hot"] and emb.counts.tolist() == [3, 2, 1]
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (3, 4)
    assert manifest["format"] == "mmwe.embeddings" and manifest["version"] == 2
    assert set(manifest["files"]) == {"vocab.tsv", "vectors.npy"} and "image" not in manifest  # text-only


def test_version_1_artifacts_still_load(tmp_path: Path) -> None:
    _write(tmp_path / "e", ["dog", "cat", "hot"])
    path = tmp_path / "e" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "version": 1}))
    emb = load_embeddings(tmp_path / "e", verify=True)
    assert emb.manifest["version"] == 1 and emb.words == ["dog", "cat", "hot"]
    path.write_text(json.dumps({**manifest, "version": 3}))
    with pytest.raises(ArtifactError, match="unsupported mmwe.embeddings version 3"):
        load_embeddings(tmp_path / "e")


def test_image_part_is_checksummed(tmp_path: Path) -> None:
    from index.image_model import RESERVED, ImageModel, image_arrays_spec

    words = ["dog", "cat", "hot"]
    spec = image_arrays_spec(len(words), 4, 3, 5, shared=False)
    arrays = {n: np.full(shape, 0.1, np.float32) for n, shape in spec.items()}
    desc = {"model_kind": "a-noshare", "feature_dim": 5, "hidden_dim": 3, "embed_dim": 4,
            "shared_output": False, "reserved": list(RESERVED), "features": {"backbone": "user"}}  # fmt: skip
    vecs = np.ones((3, 4), np.float32)
    write_embeddings(tmp_path / "e", words, [1, 1, 1], vecs, model_kind="a-noshare", corpus={}, training={},
                     metrics={}, seed=0, image=(desc, arrays))  # fmt: skip
    emb = load_embeddings(tmp_path / "e", verify=True)
    assert "image/output_weight.npy" in emb.manifest["files"]
    probs = ImageModel.from_embeddings(emb).first_word_probs(np.zeros((2, 5)))
    assert probs.shape == (2, 3) and np.allclose(probs, probs[0, 0])  # equal weights: equal probabilities
    np.save(tmp_path / "e" / "image" / "fc_bias.npy", np.zeros(4, np.float32))
    with pytest.raises(ArtifactError, match="fc_bias.npy: checksum mismatch"):
        load_embeddings(tmp_path / "e", verify=True)
    np.save(tmp_path / "e" / "image" / "fc_bias.npy", np.zeros(5, np.float32))
    with pytest.raises(ArtifactError, match=r"fc_bias.npy: expected float32 \[4\]"):
        ImageModel.from_embeddings(load_embeddings(tmp_path / "e"))


def test_failed_write_keeps_previous_artifact(tmp_path: Path) -> None:
    _write(tmp_path / "e", ["dog", "cat"])
    before = (tmp_path / "e" / "manifest.json").read_text()
    with pytest.raises(ValueError, match="duplicate"):
        _write(tmp_path / "e", ["dog", "dog"])
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "e") as tmp:
        (tmp / "manifest.json").write_text("half")
        raise RuntimeError("crash mid-write")
    assert (tmp_path / "e" / "manifest.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["e"]  # no temporary leftovers


def test_corrupt_or_missing_files_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="missing artifact"):
        load_embeddings(tmp_path / "nope")
    _write(tmp_path / "e", ["dog", "cat"])
    vec = tmp_path / "e" / "vectors.npy"
    vec.write_bytes(vec.read_bytes()[:-8])
    with pytest.raises(ArtifactError, match="vectors.npy"):
        load_embeddings(tmp_path / "e", verify=True)
    (tmp_path / "e" / "vocab.tsv").write_text("dog\t1\ncat\n")
    with pytest.raises(ArtifactError, match=r"vocab.tsv: line 2"):
        load_embeddings(tmp_path / "e")
    (tmp_path / "e" / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt manifest"):
        load_embeddings(tmp_path / "e")
    (tmp_path / "e" / "manifest.json").write_text(json.dumps({"format": "mmwe.embeddings", "version": 99}))
    with pytest.raises(ArtifactError, match="unsupported"):
        load_embeddings(tmp_path / "e")
