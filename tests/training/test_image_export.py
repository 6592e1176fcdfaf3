"""The image part of version-2 embeddings: written by training, run in numpy, equal to the torch model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from index.artifacts import load_embeddings, write_embeddings
from index.corpus import BOS, EOS
from index.errors import ArtifactError, QueryError
from index.image_model import RESERVED, ImageModel
from tests.training.corpus_helpers import write_corpus, write_features
from training.__main__ import main
from training.checkpoint import load_checkpoint
from training.model import ModelConfig, MultimodalGRU
from training.train import TrainConfig, train

WORDS = [f"w{i}" for i in range(30)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    tmp = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(1)
    ids = [f"img{i}" for i in range(10)]
    # each image's sentences start with "its" word, so the first-word distribution depends on the image
    sents = [([WORDS[i % 10]] + [WORDS[int(j)] for j in rng.integers(10, 30, 4)], i % 10) for i in range(200)]
    corpus = write_corpus(tmp / "corpus", {"train": sents, "val": sents[:50]}, ids)
    feats = rng.normal(size=(10, 6))
    return corpus, write_features(tmp / "features", ids, feats), feats.astype(np.float16).astype(np.float32)


def _train(data: tuple[Path, Path, np.ndarray], out: Path, kind: str) -> None:
    model = ModelConfig(kind=kind, embed_dim=8, hidden_dim=12, num_negatives=8)
    cfg = TrainConfig(
        corpus=str(data[0]), features=str(data[1]), out=str(out), model=model, epochs=1, batch_size=32,
        progress=False, precision="fp32", lr=0.5,
    )  # fmt: skip
    train(cfg)


def _torch_model(out: Path) -> MultimodalGRU:
    state = load_checkpoint(out.with_name(out.name + ".ckpt") / "best.pt")
    model = MultimodalGRU(ModelConfig(**state["config"]["model"]))
    model.load_state_dict(state["model"])
    return model.eval()


@pytest.mark.parametrize("kind", ["a", "a-noshare"])
def test_numpy_first_step_and_greedy_captions_match_torch(
    data: tuple[Path, Path, np.ndarray], tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "emb"
    _train(data, out, kind)
    emb = load_embeddings(out, verify=True)  # checksums cover image/*.npy
    assert emb.manifest["version"] == 2 and emb.manifest["image"]["model_kind"] == kind
    assert emb.manifest["image"]["features"]["backbone"] == "synthetic"
    assert ("image/output_weight.npy" in emb.manifest["files"]) == (kind == "a-noshare")
    model = ImageModel.from_embeddings(emb)
    net = _torch_model(out)
    feats = data[2]
    with torch.no_grad():
        f = torch.from_numpy(feats)
        _, h, _ = net.encode(torch.full((10, 1), BOS), f, torch.ones(10, dtype=torch.bool))
        expected = F.softmax(net.full_logits(net.fc(h[:, 0])), dim=1).numpy()  # [B, R + V]
    probs, _ = model.first_step(feats)
    np.testing.assert_allclose(probs, expected, atol=2e-6)
    np.testing.assert_allclose(model.first_word_probs(feats), expected[:, len(RESERVED) :], atol=2e-6)
    assert np.abs(probs[0] - probs[1]).max() > 1e-4  # the image matters
    captions, mass = model.greedy_captions(feats, max_len=5)
    for b, caption in enumerate(captions):  # torch's choice at every step of the same prefix is the same word
        tokens = [BOS] + [w + len(RESERVED) for w in caption]
        with torch.no_grad():
            _, h, _ = net.encode(torch.tensor([tokens]), f[b : b + 1], torch.ones(1, dtype=torch.bool))
            step = F.softmax(net.full_logits(net.fc(h[0])), dim=1).numpy()  # [T, R + V]
        step[:, :EOS] = -1
        chosen = step.argmax(1)
        assert chosen[: len(caption)].tolist() == tokens[1:]
        assert len(caption) == 5 or chosen[len(caption)] == EOS
        np.testing.assert_allclose(mass[b], step[: len(caption) + 1, len(RESERVED) :].sum(0), atol=1e-5)
    with pytest.raises(QueryError, match="6 values"):
        model.first_step(np.zeros((1, 7)))


def test_v1_artifact_loads_and_gets_its_image_part_from_the_checkpoint(
    data: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "emb"
    _train(data, out, "a")
    v2 = load_embeddings(out)
    shutil.copytree(out, tmp_path / "v2")
    # the same artifact as version 1 wrote it: no image part
    write_embeddings(
        out, v2.words, v2.counts.tolist(), np.array(v2.vectors), model_kind="a", corpus={}, training={},
        metrics={}, seed=0,
    )  # fmt: skip
    manifest = out / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 2', '"version": 1'))
    v1 = load_embeddings(out, verify=True)
    assert v1.manifest["version"] == 1 and "image" not in v1.manifest
    with pytest.raises(ArtifactError, match="no image part"):
        ImageModel.from_embeddings(v1)
    assert main(["image-export", "--embeddings", str(out)]) == 0
    again = ImageModel.from_embeddings(load_embeddings(out, verify=True))
    before = ImageModel.from_embeddings(load_embeddings(tmp_path / "v2"))
    np.testing.assert_array_equal(again.first_word_probs(data[2]), before.first_word_probs(data[2]))


def test_text_model_has_no_image_part(data: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    model = ModelConfig(kind="text", embed_dim=8, hidden_dim=12, num_negatives=8)
    cfg = TrainConfig(corpus=str(data[0]), out=str(tmp_path / "t"), model=model, epochs=1, progress=False)
    train(cfg)
    emb = load_embeddings(tmp_path / "t", verify=True)
    assert "image" not in emb.manifest and not (tmp_path / "t" / "image").exists()
    with pytest.raises(ArtifactError, match="no image part"):
        ImageModel.from_embeddings(emb)
