"""`python -m training train`: the command line of the training loop (training/train.py).

Parses the flags into a `TrainConfig`, applies a named recipe (`--preset`, PRESETS) and runs `train`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from typing import Any

from training import train as loop
from training.init_embeddings import INIT_SCALES
from training.model import MODEL_KINDS, ModelConfig
from training.optim import LR_SCHEDULES, OPTIMIZERS
from training.train import TrainConfig, TrainingError, train


def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a GRU embedding model (text, a, a-noshare, b, c)",
        description=loop.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d, m = TrainConfig(corpus="", out=""), ModelConfig(kind="text")
    p.add_argument("--model", choices=MODEL_KINDS, default="a", help="model variant (default a)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="named recipe for the optimisation flags left at their defaults; small = "
        + ", ".join(f"{k} {v}" for k, v in PRESETS["small"].items())
        + " (docs/training.md; use with --init-embeddings)",
    )
    p.add_argument("--corpus", required=True, help="prepared corpus directory (mmwe.corpus)")
    p.add_argument(
        "--features", help="image feature directory (mmwe.features); required except for --model text"
    )
    p.add_argument("--out", required=True, help="embeddings artifact directory to write (mmwe.embeddings)")
    p.add_argument("--checkpoint-dir", help="where checkpoints go (default <out>.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/last.pt if present")
    p.add_argument(
        "--embed-dim", type=int, default=m.embed_dim, help="word embedding size (default %(default)s)"
    )
    p.add_argument(
        "--hidden-dim", type=int, default=m.hidden_dim, help="GRU state size (default %(default)s)"
    )
    p.add_argument(
        "--num-negatives", type=int, default=m.num_negatives, help="sampled-softmax negatives per batch"
    )
    p.add_argument(
        "--softmax",
        choices=("auto", "full", "sampled"),
        default=m.softmax,
        help="auto: exact softmax when the vocabulary <= --full-softmax-max-vocab, else sampled",
    )
    p.add_argument(
        "--full-softmax-max-vocab", type=int, default=m.full_softmax_max_vocab, help="see --softmax"
    )
    p.add_argument(
        "--image-loss-weight", type=float, default=m.image_loss_weight, help="lambda of models b and c"
    )
    p.add_argument("--embed-init-std", type=float, default=m.embed_init_std, help="std of the embedding init")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="default sgd")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=d.weight_decay,
        help="weight decay of the matrices (not the biases): decoupled (AdamW) with adam, the "
        "optimiser's own L2 term with sgd and adagrad (default %(default)s)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=d.lr_schedule,
        help="learning-rate multiplier per optimiser step after the warmup, over the planned steps (epochs x "
        "batches per epoch, lowered by --max-steps / --max-tokens when given): constant 1, cosine or linear "
        "decay to 0 (default %(default)s)",
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=d.warmup_steps,
        help="raise the learning rate linearly over the first N optimiser steps (default %(default)s)",
    )
    p.add_argument(
        "--embed-lr-scale",
        type=float,
        default=d.embed_lr_scale,
        help="learning-rate multiplier of the word-embedding matrix only; with weight sharing (all models "
        "but a-noshare) the output projection is that matrix (default %(default)s)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=m.dropout,
        help="dropout on the GRU's input embeddings and outputs, training only (default %(default)s)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sentences per batch and rank")
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clipping, 0 = off (default 10)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (default %(default)s)")
    p.add_argument(
        "--patience", type=int, default=d.patience, help="evaluations without improvement before stop"
    )
    p.add_argument("--min-delta", type=float, default=d.min_delta, help="smallest val-loss drop that counts")
    p.add_argument("--max-minutes", type=float, help="stop after this much training time (budget)")
    p.add_argument("--max-tokens", type=int, help="stop after this many training tokens (budget)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (budget)")
    p.add_argument(
        "--eval-every", type=int, default=0, help="also validate every N steps (default: per epoch)"
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=d.checkpoint_every, help="save last.pt every N steps"
    )
    p.add_argument("--max-len", type=int, default=d.max_len, help="truncate sentences to this many words")
    p.add_argument("--seed", type=int, default=0, help="random seed (init, data order, negatives)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="auto: bf16 autocast on GPUs and on CPUs with AMX/AVX512-BF16, else fp32",
    )
    p.add_argument(
        "--init-embeddings",
        help="mmwe.embeddings artifact (e.g. word2vec of the same corpus) to start the word embeddings from; "
        "aligned by word, words it lacks keep the random init",
    )
    p.add_argument(
        "--init-scale",
        choices=INIT_SCALES,
        default=d.init_scale,
        help="std: rescale the imported vectors so their std equals --embed-init-std (default); none: as is",
    )
    p.add_argument("--val-split", default="val", help="split used for validation (default val)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_cli)


# Named recipes. A preset replaces the values of the flags left at their defaults; flags given explicitly win.
# `small` is the recipe measured in docs/training.md for corpora of 50k-300k sentences on a few CPU cores;
# pair it with --init-embeddings (a word2vec artifact of the same corpus).
PRESETS: dict[str, dict[str, Any]] = {
    "small": {"optimizer": "adam", "lr": 0.002, "epochs": 2, "patience": 1},
}


def apply_preset(args: argparse.Namespace) -> None:
    """Fill the flags still at their TrainConfig default from `args.preset` (no-op without one)."""
    name = getattr(args, "preset", None)
    if not name:
        return
    if name not in PRESETS:
        raise TrainingError(f"unknown preset {name!r} (choose one of {', '.join(PRESETS)})")
    defaults = TrainConfig(corpus="", out="")
    for key, value in PRESETS[name].items():
        if getattr(args, key) == getattr(defaults, key):
            setattr(args, key, value)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    apply_preset(args)
    model = ModelConfig(
        kind=args.model,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        num_negatives=args.num_negatives,
        softmax=args.softmax,
        full_softmax_max_vocab=args.full_softmax_max_vocab,
        image_loss_weight=args.image_loss_weight,
        embed_init_std=args.embed_init_std,
        dropout=args.dropout,
    )
    names = {f.name for f in fields(TrainConfig)} - {"model", "progress"}
    values = {n: getattr(args, n) for n in names if hasattr(args, n)}
    return TrainConfig(model=model, progress=not args.no_progress, **values)


def run_cli(args: argparse.Namespace) -> int:
    metrics = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"wrote {args.out}: best val loss {metrics['best_val_loss']}, {metrics['train_tokens']:,} tokens "
            f"in {metrics['train_seconds']:.0f} s ({metrics['tokens_per_second']} tokens/s)"
        )
    return 0
