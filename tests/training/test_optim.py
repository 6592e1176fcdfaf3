"""The recipe flags --dropout, --weight-decay, --lr-schedule/--warmup-steps and --embed-lr-scale."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from index.artifacts import load_embeddings
from tests.training.test_train import config, corpus  # noqa: F401  (fixture)
from training.__main__ import build_parser
from training.model import ModelConfig, MultimodalGRU, dropout
from training.optim import LrSchedule, OptimError, make_optimizer, param_groups, planned_steps
from training.train import TrainingError, _Trainer, train
from training.train_cli import config_from_args


def tiny_model(kind: str = "a", p: float = 0.0) -> MultimodalGRU:
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, vocab_size=20, feature_dim=6, embed_dim=8, hidden_dim=12, dropout=p)  # type: ignore[arg-type]
    return MultimodalGRU(cfg)


def tiny_batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(4, 20, (5, 7), generator=g)  # [B, T]
    inputs[:, 0] = 2  # <bos>
    targets = torch.randint(4, 20, (5, 7), generator=g)
    lengths = torch.tensor([7, 6, 5, 7, 3])
    features = torch.randn(5, 6, generator=g)
    has_image = torch.tensor([True, True, False, True, True])
    return inputs, targets, lengths, features, has_image


# ---- dropout -----------------------------------------------------------------------------------------------
def test_dropout_zeroes_about_p_and_keeps_the_mean() -> None:
    x = torch.ones(200_000)
    y = dropout(x, 0.3, torch.Generator().manual_seed(0))
    assert float((y == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)
    assert dropout(x, 0.0) is x


def test_dropout_acts_in_training_mode_only() -> None:
    plain, dropped = tiny_model(p=0.0), tiny_model(p=0.5)  # same seed: same weights
    batch = tiny_batch()

    def loss(m: MultimodalGRU, seed: int) -> float:
        return float(m(*batch, generator=torch.Generator().manual_seed(seed))["loss"].detach())

    plain.train()
    dropped.train()
    assert loss(dropped, 0) != pytest.approx(loss(plain, 0))  # masks change the training loss
    assert loss(dropped, 0) == loss(dropped, 0)  # masks come from the generator
    assert loss(dropped, 0) != loss(dropped, 1)
    # validation (eval mode and exact_nll_sum, in any mode) and export see no dropout
    plain.eval()
    dropped.eval()
    assert loss(dropped, 0) == loss(plain, 0)
    dropped.train()
    assert dropped.exact_nll_sum(*batch[:3], *batch[3:]) == plain.exact_nll_sum(*batch[:3], *batch[3:])
    assert torch.equal(dropped.input_embeddings(), plain.input_embeddings())


def test_dropout_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)


# ---- optimiser: groups, weight decay, embedding learning rate ----------------------------------------------
def test_groups_scale_the_embedding_lr_and_shared_output_is_the_embedding() -> None:
    model = tiny_model("a")
    opt = make_optimizer("adam", model, model.embedding.weight, 0.01, embed_lr_scale=0.3)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["embedding"]["lr"] == pytest.approx(0.003) and groups["weights"]["lr"] == 0.01
    assert groups["embedding"]["params"] == [model.embedding.weight]
    assert model.output_weight is model.embedding.weight  # shared: the output projection gets the scale too
    noshare = tiny_model("a-noshare")
    groups = {g["name"]: g for g in param_groups(noshare, noshare.embedding.weight, 1.0, 0.0, 0.3)}
    assert any(p is noshare.out_weight for p in groups["weights"]["params"])
    assert all(p.dim() == 1 for p in groups["biases"]["params"])
    n = sum(len(g["params"]) for g in groups.values())
    assert n == len(list(noshare.parameters()))


def test_embedding_lr_scale_moves_only_the_embedding_less() -> None:
    a, b = tiny_model(), tiny_model()
    for m, scale in ((a, 1.0), (b, 0.25)):
        opt = make_optimizer("sgd", m, m.embedding.weight, 0.1, embed_lr_scale=scale)
        m.train()
        m(*tiny_batch())["loss"].backward()
        opt.step()
    start = tiny_model()
    d_a = a.embedding.weight.detach() - start.embedding.weight.detach()
    d_b = b.embedding.weight.detach() - start.embedding.weight.detach()
    assert torch.allclose(d_b, 0.25 * d_a, atol=1e-7) and float(d_a.abs().max()) > 0
    assert torch.equal(a.fc.weight, b.fc.weight)


@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_weight_decay_shrinks_matrices_with_zero_gradient(name: str) -> None:
    model = tiny_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = make_optimizer(name, model, model.embedding.weight, 0.1, weight_decay=0.5)
    assert isinstance(opt, torch.optim.AdamW) == (name == "adam")
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        if p.dim() >= 2:
            if name == "adagrad":  # gradient wd w over its own norm: a step of lr sign(w)
                assert torch.allclose(p, before[n] - 0.1 * before[n].sign(), atol=1e-6), n
            else:  # AdamW: w (1 - lr wd); SGD: w - lr wd w
                assert torch.allclose(p, before[n] * (1 - 0.1 * 0.5), atol=1e-7), n
        else:
            assert torch.equal(p, before[n]), n  # biases are not decayed


def test_no_weight_decay_means_plain_adam_and_bad_values_are_refused() -> None:
    model = tiny_model()
    assert type(make_optimizer("adam", model, model.embedding.weight, 0.1)) is torch.optim.Adam
    with pytest.raises(OptimError, match="weight decay"):
        make_optimizer("adam", model, model.embedding.weight, 0.1, weight_decay=-1)
    with pytest.raises(OptimError, match="unknown optimizer"):
        make_optimizer("rmsprop", model, model.embedding.weight, 0.1)


# ---- schedule ----------------------------------------------------------------------------------------------
def test_schedule_values_at_known_steps() -> None:
    cos = LrSchedule("cosine", warmup_steps=10, total_steps=110)
    assert [cos.factor(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert cos.factor(10) == 1.0
    assert cos.factor(60) == pytest.approx(0.5)  # half of the 100 steps after warmup
    assert cos.factor(35) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cos.factor(110) == pytest.approx(0.0) and cos.factor(500) == pytest.approx(0.0)
    lin = LrSchedule("linear", warmup_steps=0, total_steps=100)
    assert [lin.factor(s) for s in (0, 25, 99)] == pytest.approx([1.0, 0.75, 0.01])
    const = LrSchedule("constant", warmup_steps=4, total_steps=10)
    assert [const.factor(s) for s in (0, 3, 4, 1000)] == pytest.approx([0.25, 1.0, 1.0, 1.0])
    with pytest.raises(OptimError, match="schedule"):
        LrSchedule("step")


def test_schedule_multiplies_every_group_base_lr() -> None:
    model = tiny_model()
    opt = make_optimizer("adam", model, model.embedding.weight, 0.01, embed_lr_scale=0.5)
    LrSchedule("linear", 0, 100).apply(opt, 50)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"embedding": 0.0025, "weights": 0.005, "biases": 0.005})


def test_planned_steps_follow_epochs_and_budgets() -> None:
    assert planned_steps(2, 211, 630_000) == 422
    assert planned_steps(2, 211, 630_000, max_steps=100) == 100
    assert planned_steps(2, 211, 630_000, max_tokens=300_000) == math.ceil(300_000 * 211 / 630_000)
    assert planned_steps(2, 211, 630_000, max_steps=5000, max_tokens=10**9) == 422


# ---- the training loop -------------------------------------------------------------------------------------
RECIPE: dict[str, object] = {
    "optimizer": "adam",
    "lr": 0.01,
    "patience": 5,
    "weight_decay": 0.05,
    "lr_schedule": "cosine",
    "warmup_steps": 5,
    "embed_lr_scale": 0.3,
    "checkpoint_every": 10,
}


def with_dropout(cfg: object) -> object:
    cfg.model.dropout = 0.3  # type: ignore[attr-defined]
    return cfg


def test_trainer_builds_groups_and_schedule_and_records_them(
    corpus: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = config(corpus, tmp_path / "e", "a", **RECIPE)
    trainer = _Trainer(cfg)
    per_epoch = trainer.train_stream.batches_per_rank()
    assert trainer.schedule == LrSchedule("cosine", 5, 2 * per_epoch)
    lrs = {g["name"]: g["base_lr"] for g in trainer.optimizer.param_groups}
    assert lrs["embedding"] == pytest.approx(0.003) and lrs["weights"] == 0.01
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    train(cfg)
    saved = json.loads((tmp_path / "e.ckpt" / "config.json").read_text())
    for key in ("weight_decay", "lr_schedule", "warmup_steps", "embed_lr_scale"):
        assert saved[key] == RECIPE[key]
    assert saved["schedule"]["total_steps"] == 2 * per_epoch and saved["model"]["dropout"] == 0.0
    assert load_embeddings(tmp_path / "e").manifest["training"]["lr_schedule"] == "cosine"


def test_resume_with_a_schedule_and_dropout_equals_an_uninterrupted_run(
    corpus: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = train(with_dropout(config(corpus, tmp_path / "full", "a", **RECIPE)))  # type: ignore[arg-type]
    real_step = _Trainer.step

    def crashing_step(self: _Trainer, batch: object) -> tuple[float, int]:
        if self.state.global_step == 23:  # killed during step 24; last.pt holds step 20
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(_Trainer, "step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        train(with_dropout(config(corpus, tmp_path / "part", "a", **RECIPE)))  # type: ignore[arg-type]
    monkeypatch.setattr(_Trainer, "step", real_step)
    rest = train(with_dropout(config(corpus, tmp_path / "part", "a", resume=True, **RECIPE)))  # type: ignore[arg-type]
    assert rest["global_step"] == full["global_step"]
    a, b = load_embeddings(tmp_path / "full").vectors, load_embeddings(tmp_path / "part").vectors
    assert np.array_equal(a, b)
    assert rest["best_val_loss"] == full["best_val_loss"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("weight_decay", 0.1), ("lr_schedule", "linear"), ("warmup_steps", 3), ("embed_lr_scale", 1.0)],
)
def test_resume_refuses_a_changed_recipe_flag(
    corpus: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    key: str,
    value: object,
) -> None:
    train(config(corpus, tmp_path / "e", "a", max_steps=3, **RECIPE))
    changed = {**RECIPE, key: value}
    with pytest.raises(TrainingError, match=key):
        train(config(corpus, tmp_path / "e", "a", max_steps=3, resume=True, **changed))


def test_resume_refuses_changed_dropout_and_a_changed_schedule_length(
    corpus: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    train(config(corpus, tmp_path / "e", "a", max_steps=3, **RECIPE))
    with pytest.raises(TrainingError, match="model.dropout"):
        train(with_dropout(config(corpus, tmp_path / "e", "a", max_steps=3, resume=True, **RECIPE)))  # type: ignore[arg-type]
    # a larger budget would stretch the cosine mid-run: refused (a constant schedule may be extended)
    with pytest.raises(TrainingError, match="planned schedule steps"):
        train(config(corpus, tmp_path / "e", "a", resume=True, **RECIPE))
    const = {**RECIPE, "lr_schedule": "constant"}
    train(config(corpus, tmp_path / "c", "a", max_steps=3, **const))
    more = train(config(corpus, tmp_path / "c", "a", max_steps=6, resume=True, **const))
    assert more["global_step"] == 6


def test_cli_flags_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["train", "--corpus", "c", "--out", "o", "--dropout", "0.2", "--weight-decay", "0.01"]
        + ["--lr-schedule", "cosine", "--warmup-steps", "100", "--embed-lr-scale", "0.3"]
    )
    cfg = config_from_args(args)
    assert cfg.model.dropout == 0.2 and cfg.weight_decay == 0.01
    assert (cfg.lr_schedule, cfg.warmup_steps, cfg.embed_lr_scale) == ("cosine", 100, 0.3)
    plain = config_from_args(build_parser().parse_args(["train", "--corpus", "c", "--out", "o"]))
    assert (plain.model.dropout, plain.weight_decay, plain.lr_schedule, plain.embed_lr_scale) == (
        0.0,
        0.0,
        "constant",
        1.0,
    )


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_adam_and_adamw_use_the_fused_kernel_on_cpu(decay: float) -> None:
    model = MultimodalGRU(ModelConfig(kind="text", vocab_size=20, embed_dim=4, hidden_dim=6))
    assert make_optimizer("adam", model, model.embedding.weight, 0.1, weight_decay=decay).defaults["fused"]
    assert not make_optimizer("sgd", model, model.embedding.weight, 0.1).defaults.get("fused")
