"""The training loop end to end on small prepared corpora: export, determinism, resume, budgets, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.artifacts import load_embeddings
from index.errors import ArtifactError, MmweError
from tests.training.corpus_helpers import write_corpus, write_features
from training.model import ModelConfig
from training.train import TrainConfig, TrainingError, train

WORDS = [f"w{i}" for i in range(40)]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)

    def sentence() -> tuple[list[str], int]:
        n = int(rng.integers(3, 10))
        return [WORDS[int(i)] for i in rng.integers(0, len(WORDS), n)], int(rng.integers(-1, 12))

    ids = [f"img{i}" for i in range(12)]
    c = write_corpus(
        tmp_path / "corpus",
        {"train": [sentence() for _ in range(600)], "val": [sentence() for _ in range(60)]},
        ids,
    )
    f = write_features(
        tmp_path / "features", ids[:10], rng.normal(size=(10, 8))
    )  # img10, img11 lack features
    return c, f


def config(corpus: tuple[Path, Path], out: Path, kind: str = "a", **kw: object) -> TrainConfig:
    model = ModelConfig(kind=kind, feature_dim=1, embed_dim=8, hidden_dim=16, num_negatives=16)
    base: dict[str, object] = {
        "epochs": 2,
        "batch_size": 32,
        "progress": False,
        "precision": "fp32",
        "lr": 0.5,
    }
    base.update(kw)
    return TrainConfig(corpus=str(corpus[0]), features=str(corpus[1]), out=str(out), model=model, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["text", "a", "a-noshare", "b", "c"])
def test_every_model_trains_and_exports_embeddings(
    corpus: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"emb-{kind}"
    metrics = train(config(corpus, out, kind))
    emb = load_embeddings(out, verify=True)
    assert "<bos>" not in emb.words and "<pad>" not in emb.words and emb.words[0] in WORDS
    assert len(emb.words) == 40 and emb.vectors.shape == (40, 8)
    assert emb.manifest["model_kind"] == kind and emb.manifest["seed"] == 0
    assert emb.manifest["training"]["model"]["kind"] == kind
    assert metrics["epochs_completed"] == 2 and metrics["best_val_loss"] is not None
    history = [h["val_loss"] for h in metrics["history"]]
    assert all(np.isfinite(history)) and history[0] < np.log(44) + 0.5  # near or below a uniform guess
    saved = json.loads((Path(str(out) + ".ckpt") / "metrics.json").read_text())
    assert saved["global_step"] == metrics["global_step"]


def test_exported_vectors_are_the_input_embedding_rows_after_the_reserved_ids(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    out = tmp_path / "emb"
    train(config(corpus, out, "a", epochs=1))
    best = torch.load(Path(str(out) + ".ckpt") / "best.pt", weights_only=False)["model"]
    emb = load_embeddings(out)
    assert np.allclose(emb.vectors, best["embedding.weight"][4:].numpy())


def test_same_seed_same_vectors_other_seed_differs(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    train(config(corpus, tmp_path / "x", "a", epochs=1))
    train(config(corpus, tmp_path / "y", "a", epochs=1))
    train(config(corpus, tmp_path / "z", "a", epochs=1, seed=1))
    x, y, z = (load_embeddings(tmp_path / n).vectors for n in "xyz")
    assert np.array_equal(x, y)
    assert not np.allclose(x, z)


def test_resume_after_interruption_equals_an_uninterrupted_run(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    full = train(config(corpus, tmp_path / "full", "a", optimizer="adam", lr=0.01, patience=5))
    part = train(config(corpus, tmp_path / "part", "a", optimizer="adam", lr=0.01, patience=5, max_steps=23))
    assert part["global_step"] == 23 and part["epochs_completed"] == 1
    rest = train(config(corpus, tmp_path / "part", "a", optimizer="adam", lr=0.01, patience=5, resume=True))
    assert rest["global_step"] == full["global_step"]
    a, b = load_embeddings(tmp_path / "full").vectors, load_embeddings(tmp_path / "part").vectors
    assert np.allclose(a, b, atol=1e-6)
    assert rest["best_val_loss"] == pytest.approx(full["best_val_loss"], abs=1e-6)


def test_resume_refuses_a_different_configuration(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    train(config(corpus, tmp_path / "e", "a", max_steps=3))
    with pytest.raises(TrainingError, match="batch_size"):
        train(config(corpus, tmp_path / "e", "a", batch_size=16, resume=True))


def test_early_stopping_and_budgets(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    m = train(config(corpus, tmp_path / "s", "text", epochs=30, lr=5.0, optimizer="sgd"))
    assert m["epochs_completed"] < 30  # validation loss stopped falling
    tokens = train(config(corpus, tmp_path / "t", "text", max_tokens=2000))
    assert 2000 <= tokens["train_tokens"] < 2000 + 32 * 12
    assert load_embeddings(tmp_path / "t").vectors.shape == (40, 8)


def test_model_without_features_is_refused_and_text_model_needs_none(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = config(corpus, tmp_path / "n", "a")
    cfg.features = None
    with pytest.raises(TrainingError, match="--features"):
        train(cfg)
    cfg = config(corpus, tmp_path / "n", "text", epochs=1)
    cfg.features = None
    train(cfg)
    assert load_embeddings(tmp_path / "n").manifest["model_kind"] == "text"


def test_bad_inputs_name_the_file(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nothing"):
        train(config((tmp_path / "nothing", corpus[1]), tmp_path / "o"))
    (corpus[1] / "features.f16").write_bytes(b"\0" * 10)
    with pytest.raises(ArtifactError, match="features.f16"):
        train(config(corpus, tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_failed_run_leaves_the_previous_artifact(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "keep"
    train(config(corpus, out, "text", epochs=1))
    before = (out / "vectors.npy").read_bytes()
    with pytest.raises(MmweError):
        train(config(corpus, out, "text", epochs=1, optimizer="rmsprop"))
    assert (out / "vectors.npy").read_bytes() == before
