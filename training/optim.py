"""Optimiser and learning-rate schedule of `python -m training train` (docs/training.md, "Optimisation").

Parameter groups (`param_groups`):

- `embedding`: the word-embedding matrix E, at `lr * embed_lr_scale`. With weight sharing (every model but
  `a-noshare`) the output projection IS this matrix, so the scale applies to it too; `a-noshare`'s separate
  output matrix belongs to `weights`.
- `weights`: every other matrix (GRU, FC, image FC, a separate output matrix), at `lr`.
- `biases`: one-dimensional parameters (GRU biases, FC biases, the output bias), at `lr`, never decayed.

`--weight-decay W` decays `embedding` and `weights`: decoupled (torch.optim.AdamW) for adam; for sgd and
adagrad their own `weight_decay` (an L2 term added to the gradient; for plain SGD the same thing up to the
learning rate). With W = 0 adam is torch.optim.Adam itself.

The schedule (`LrSchedule`) is a multiplier of every group's base learning rate, a pure function of the
optimiser step, set before each step: linear warmup from 1/N to 1 over the first `warmup_steps`, then
`constant` (1), `cosine` (1 -> 0 along half a cosine) or `linear` (1 -> 0) over the remaining planned steps.
The planned steps are fixed when a run starts (`planned_steps`) and saved in its checkpoints; `--resume`
refuses a run whose flags plan a different number (with a schedule other than constant).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from index.errors import MmweError

OPTIMIZERS = ("sgd", "adam", "adagrad")
LR_SCHEDULES = ("constant", "cosine", "linear")


class OptimError(MmweError):
    """The optimiser or schedule cannot be built as configured."""


def param_groups(
    model: nn.Module, embedding: torch.Tensor, lr: float, weight_decay: float, embed_lr_scale: float
) -> list[dict[str, Any]]:
    """The three groups described above, each with `base_lr` (what the schedule multiplies) and a name."""
    emb: list[nn.Parameter] = []
    weights: list[nn.Parameter] = []
    biases: list[nn.Parameter] = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        if p is embedding:
            emb.append(p)
        elif p.dim() >= 2:
            weights.append(p)
        else:
            biases.append(p)
    if len(emb) != 1:
        raise OptimError("the embedding matrix is not a parameter of the model")
    groups = [
        {"name": "embedding", "params": emb, "lr": lr * embed_lr_scale, "weight_decay": weight_decay},
        {"name": "weights", "params": weights, "lr": lr, "weight_decay": weight_decay},
        {"name": "biases", "params": biases, "lr": lr, "weight_decay": 0.0},
    ]
    for g in groups:
        g["base_lr"] = g["lr"]
    return [g for g in groups if g["params"]]


def make_optimizer(
    name: str,
    model: nn.Module,
    embedding: torch.Tensor,
    lr: float,
    weight_decay: float = 0.0,
    embed_lr_scale: float = 1.0,
) -> torch.optim.Optimizer:
    """sgd, adam (AdamW when weight_decay > 0) or adagrad over `param_groups`."""
    if weight_decay < 0:
        raise OptimError(f"weight decay must be >= 0, not {weight_decay}")
    if embed_lr_scale < 0:
        raise OptimError(f"embedding learning-rate scale must be >= 0, not {embed_lr_scale}")
    groups = param_groups(model, embedding, lr, weight_decay, embed_lr_scale)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    if name == "adam":
        # The fused kernel updates each parameter in one pass instead of a dozen foreach passes: 4 ms
        # instead of 16 ms per step for Model A on one CPU thread (docs/training.md, "The real loop").
        fused = embedding.device.type in ("cpu", "cuda")
        if weight_decay > 0:
            return torch.optim.AdamW(groups, lr=lr, fused=fused)
        return torch.optim.Adam(groups, lr=lr, fused=fused)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr)
    raise OptimError(f"unknown optimizer {name!r} ({', '.join(OPTIMIZERS)})")


@dataclass(frozen=True)
class LrSchedule:
    kind: str = "constant"  # constant | cosine | linear
    warmup_steps: int = 0
    total_steps: int = 1  # planned optimiser steps of the whole run, warmup included

    def __post_init__(self) -> None:
        if self.kind not in LR_SCHEDULES:
            raise OptimError(f"unknown learning-rate schedule {self.kind!r} ({', '.join(LR_SCHEDULES)})")
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise OptimError(
                f"warmup steps must be >= 0 and planned steps >= 1 ({self.warmup_steps}, {self.total_steps})"
            )

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rates for optimiser step `step` (0 = the first update)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Set every group's learning rate for optimiser step `step`."""
        f = self.factor(step)
        for g in optimizer.param_groups:
            g["lr"] = g["base_lr"] * f

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def planned_steps(
    epochs: int,
    batches_per_epoch: int,
    tokens_per_epoch: int,
    max_steps: int | None = None,
    max_tokens: int | None = None,
) -> int:
    """Optimiser steps a run plans: epochs x batches per epoch, lowered by --max-steps and by --max-tokens
    (converted at the epoch's mean tokens per step, rounded up) when given. Early stopping may end sooner."""
    steps = epochs * batches_per_epoch
    if max_steps is not None:
        steps = min(steps, max_steps)
    if max_tokens is not None and tokens_per_epoch > 0 and batches_per_epoch > 0:
        steps = min(steps, math.ceil(max_tokens * batches_per_epoch / tokens_per_epoch))
    return max(1, steps)
