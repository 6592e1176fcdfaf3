"""`--init-embeddings`: rows aligned by word, missing words random, rescaling; and `--preset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from index.artifacts import load_embeddings, write_embeddings
from tests.training.test_train import WORDS, config, corpus  # noqa: F401  (fixture)
from training.__main__ import build_parser
from training.init_embeddings import InitEmbeddingsError, aligned_init
from training.train import TrainConfig, TrainingError, train
from training.train_cli import PRESETS, config_from_args


def write_vectors(path: Path, words: list[str], vectors: np.ndarray) -> Path:
    meta = {"path": "x", "name": "x", "num_sentences": 0, "num_tokens": 0}
    write_embeddings(
        path,
        words,
        [1] * len(words),
        vectors,
        model_kind="word2vec",
        corpus=meta,
        training={},
        metrics={},
        seed=0,
    )
    return path


def test_rows_are_aligned_by_word_and_missing_words_keep_their_init(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    # the artifact lists words in another order, lacks "c", and has a word the model does not know
    art_words = ["d", "zzz", "b", "a"]
    art = rng.normal(size=(4, 3)).astype(np.float32)
    path = write_vectors(tmp_path / "w2v", art_words, art)
    words = ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d"]
    weight = torch.full((8, 3), 7.0)
    report = aligned_init(path, words, weight, target_std=0.1, scale="none")
    assert (report.matched, report.missing, report.scale) == (3, 1, 1.0)
    for row, word in ((4, "a"), (5, "b"), (7, "d")):
        assert np.allclose(weight[row].numpy(), art[art_words.index(word)])
    assert torch.all(weight[6] == 7.0) and torch.all(weight[:4] == 7.0)  # missing word and reserved ids


def test_std_rescaling_gives_the_target_std(tmp_path: Path) -> None:
    art = np.random.default_rng(2).normal(0, 0.5, size=(50, 4)).astype(np.float32)
    words = [f"w{i}" for i in range(50)]
    path = write_vectors(tmp_path / "w2v", words, art)
    weight = torch.zeros(54, 4)
    report = aligned_init(path, ["<pad>", "<unk>", "<bos>", "<eos>", *words], weight, target_std=0.1)
    assert report.scale == pytest.approx(0.1 / float(art.std(ddof=1)), rel=1e-5)
    assert float(weight[4:].std()) == pytest.approx(0.1, rel=1e-3)
    assert np.allclose(weight[4:].numpy(), art * report.scale, atol=1e-6)  # one factor: directions kept


def test_dimension_mismatch_and_no_overlap_are_refused(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "w2v", ["a", "b"], np.ones((2, 3), dtype=np.float32))
    specials = ["<pad>", "<unk>", "<bos>", "<eos>"]
    with pytest.raises(InitEmbeddingsError, match="3 dimensions"):
        aligned_init(path, [*specials, "a"], torch.zeros(5, 4), target_std=0.1)
    with pytest.raises(InitEmbeddingsError, match="no word"):
        aligned_init(path, [*specials, "q"], torch.zeros(5, 3), target_std=0.1)
    with pytest.raises(InitEmbeddingsError, match="init scale"):
        aligned_init(path, [*specials, "a"], torch.zeros(5, 3), target_std=0.1, scale="l2")


def test_training_starts_from_the_imported_vectors(corpus: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    rng = np.random.default_rng(3)
    known = WORDS[:30][::-1]  # reversed order: alignment must go by word
    art = rng.normal(size=(30, 8)).astype(np.float32)
    path = write_vectors(tmp_path / "w2v", known, art)
    out = tmp_path / "emb"
    # SGD with learning rate 0: the exported vectors are exactly the initial ones
    train(
        config(
            corpus, out, "a", epochs=1, optimizer="sgd", lr=0.0, init_embeddings=str(path), init_scale="none"
        )
    )
    emb = load_embeddings(out)
    index = emb.word_index()
    for i, word in enumerate(known):
        assert np.allclose(emb.vectors[index[word]], art[i])
    missing = np.stack([emb.vectors[index[w]] for w in WORDS[30:]])
    assert 0.03 < float(missing.std()) < 0.3  # the model's own N(0, 0.1) init
    init = {"path": str(path.resolve()), "matched": 30, "missing": 10, "scale": 1.0}
    assert emb.manifest["training"]["init"] == init


def test_preset_fills_defaults_and_explicit_flags_win() -> None:
    parser = build_parser()
    base = ["train", "--corpus", "c", "--out", "o"]
    cfg = config_from_args(parser.parse_args([*base, "--preset", "small"]))
    small = PRESETS["small"]
    assert (cfg.optimizer, cfg.lr, cfg.epochs, cfg.patience) == (
        small["optimizer"],
        small["lr"],
        small["epochs"],
        small["patience"],
    )
    assert cfg.preset == "small"
    cfg = config_from_args(parser.parse_args([*base, "--preset", "small", "--lr", "0.01", "--epochs", "5"]))
    assert (cfg.lr, cfg.epochs, cfg.optimizer) == (0.01, 5, "adam")
    plain = config_from_args(parser.parse_args(base))
    defaults = TrainConfig(corpus="", out="")
    assert (plain.optimizer, plain.lr, plain.preset) == (defaults.optimizer, defaults.lr, None)


def test_init_flags_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["train", "--corpus", "c", "--out", "o", "--init-embeddings", "w2v", "--init-scale", "none"]
    )
    cfg = config_from_args(args)
    assert (cfg.init_embeddings, cfg.init_scale) == ("w2v", "none")
    args.preset = "huge"
    with pytest.raises(TrainingError, match="unknown preset"):
        config_from_args(args)
