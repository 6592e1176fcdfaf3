"""Training throughput of the GRU models in tokens/s (target: >= 20k tokens/s with 2 CPU threads).

    python bench/train_bench.py                 # quick (minutes): E128/H512, batch 256, sampled softmax
    python bench/train_bench.py --precisions fp32,bf16 --full-softmax    # + bf16 anywhere, exact softmax
    python bench/train_bench.py --steps 20 --threads 2 --vocab 50000
    python bench/train_bench.py --corpus data/exp/flickr8k_coco --features data/exp/features   # + real loop

Times complete optimiser steps (forward, backward, clipping, SGD update) of `MultimodalGRU` on synthetic
batches whose sentence lengths follow a caption-like distribution (8-20 words, as length bucketing produces
them), for Model `text` and Model `a` (1,280-d image features) in fp32, and in bf16 autocast where the CPU
computes bf16 natively (AMX or AVX512-BF16, as `--precision auto` of training; `--precisions` chooses). The
exact 50k softmax (slow without native bf16) is the reference `--full-softmax` adds. Every batch width is run
once before timing (oneDNN compiles one kernel per shape).
Prints JSON with the median tokens/s of each configuration. `tokens_per_cpu_s_x_threads` (tokens per
CPU-second of this process, times the threads) estimates the rate on dedicated cores when the machine is
shared with other jobs; it is a lower bound (threads waiting at barriers burn CPU).

fp32 steps on the CPU run the GRU through `training.gru` (hand-written backward pass); bf16 autocast runs
`nn.GRU`, whose matrix products autocast lowers to bf16 (fast only on CPUs with AMX or AVX512-BF16).
`matmul_bound` puts the figures in context: the floating-point work of one training token (GRU forward and
backward, the FC layer, the sampled softmax; the per-sentence image layer of Model A is left out) divided
into the fp32 matrix-product speed measured here for the two shapes that dominate it (the per-step
recurrent product [B, H] x [H, 3H], and the large products over all steps) gives the rate no implementation
of this model can beat in fp32 on this CPU.

`--corpus DIR [--features DIR]` also times the real loop (`real_corpus` in the JSON): the training step of
`training.train` (Adam, clipping) on the corpus's own batches (length bucketing, batch building and
feature gathers included), Model A (text without `--features`), exact and sampled softmax, fp32; blocks of
`--real-steps` steps alternate between the two (`--real-repeats` each, medians reported) and are compared
with the synthetic fp32 step of the same run (`ratio_to_synthetic_step`). It also reports the corpus's
counted work (tokens per step, padding, FLOPs per token and the fp32 ceiling for each softmax) and one
validation pass's share of an epoch's CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from training.data import Batch  # noqa: E402
from training.device import pick_precision  # noqa: E402
from training.model import ModelConfig, ModelKind, MultimodalGRU  # noqa: E402
from training.train import TrainConfig, _Trainer  # noqa: E402

LENGTHS = list(range(8, 21))  # words per sentence in a bucketed batch (+1 for <eos>)


def bench_one(kind: ModelKind, softmax: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    feature_dim = 0 if kind == "text" else 1280
    cfg = ModelConfig(
        kind=kind,
        vocab_size=args.vocab,
        feature_dim=feature_dim,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        num_negatives=args.negatives,
        softmax=softmax,
    )
    counts = (1e6 / torch.arange(1, args.vocab + 1, dtype=torch.float64)).floor()  # Zipf-like counts
    model = MultimodalGRU(cfg, counts)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    gen = torch.Generator().manual_seed(0)
    b: int = args.batch_size

    def step(width: int) -> int:
        inputs = torch.randint(4, args.vocab, (b, width), generator=gen)
        targets = torch.randint(4, args.vocab, (b, width), generator=gen)
        lengths = torch.full((b,), width)
        feats = torch.rand(b, feature_dim, generator=gen) if feature_dim else None
        has = torch.rand(b, generator=gen) < 0.7 if feature_dim else None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(inputs, targets, lengths, feats, has, generator=gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return b * width

    steps = args.steps if softmax != "full" else max(2, args.steps // 8)
    for width in LENGTHS if softmax != "full" else LENGTHS[:2]:
        step(width + 1)
    rates, cpu_rates = [], []
    for i in range(steps):
        width = LENGTHS[(i * 5) % len(LENGTHS)] + 1 if softmax != "full" else LENGTHS[i % 2] + 1
        t0, c0 = time.perf_counter(), time.process_time()
        tokens = step(width)
        rates.append(tokens / (time.perf_counter() - t0))
        cpu_rates.append(tokens / max(time.process_time() - c0, 1e-9) * args.threads)
    return {
        "model": kind,
        "softmax": softmax,
        "precision": precision,
        "steps": steps,
        "tokens_per_s_median": round(statistics.median(rates)),
        "tokens_per_s_min": round(min(rates)),
        "tokens_per_s_max": round(max(rates)),
        "tokens_per_cpu_s_x_threads_median": round(statistics.median(cpu_rates)),
    }


def matmul_gflops(m: int, k: int, n: int, repeats: int = 30) -> float:
    """Measured fp32 speed of an [m, k] x [k, n] product, GFLOP/s (median of `repeats`)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * m * k * n / statistics.median(times) / 1e9


def matmul_bound(args: argparse.Namespace) -> dict[str, Any]:
    """Training FLOPs per token and the fp32 tokens/s they allow at the measured matrix-product speed."""
    e, h, k, b = args.embed_dim, args.hidden_dim, args.negatives, args.batch_size
    gru = 3 * (2 * 3 * h * (e + h))  # forward 2*3H*(E+H), backward twice that
    fc = 3 * 2 * h * e
    softmax = 3 * 2 * k * e
    flops = gru + fc + softmax
    recurrent = matmul_gflops(b, h, 3 * h)  # the per-step product, forward and backward
    batched = matmul_gflops(b * 15, e + h, 3 * h)  # products over all steps at once
    return {
        "flops_per_token": flops,
        "fp32_gflops_recurrent_shape": round(recurrent, 1),
        "fp32_gflops_batched_shape": round(batched, 1),
        "fp32_tokens_per_s_ceiling": round(batched * 1e9 / flops),
    }


def _batches(trainer: _Trainer, seed: int) -> Iterator[Batch]:
    """The training batches of epochs 0, 1, 2, ... as the loop sees them."""
    for epoch in itertools.count():
        yield from trainer.train_stream.epoch(seed, epoch)


def _real_counts(trainer: _Trainer, args: argparse.Namespace, gflops: float) -> dict[str, Any]:
    """Counted work of one epoch: tokens per step, padding, sentence lengths, FLOPs per token (full and
    sampled softmax) and the fp32 rate they allow at the measured matrix-product speed."""
    stream = trainer.train_stream
    width_tokens = real_tokens = steps = 0
    for shard, idx in stream.global_plan(0, 0):
        offsets = stream.shards[shard].offsets
        lengths = np.minimum(offsets[idx + 1] - offsets[idx], stream.max_len) + 1  # + <eos>
        width_tokens += int(lengths.max()) * len(idx)
        real_tokens += int(lengths.sum())
        steps += 1
    e, h, k = args.embed_dim, args.hidden_dim, args.negatives
    v = trainer.model_config.vocab_size
    base = 3 * (2 * 3 * h * (e + h)) + 3 * 2 * h * e  # GRU and FC, forward and backward
    flops = {"full": base + 3 * 2 * v * e, "sampled": base + 3 * 2 * k * e}
    return {
        "vocab": v,
        "train_sentences": stream.num_sentences,
        "train_tokens_per_epoch": real_tokens,
        "steps_per_epoch": steps,
        "tokens_per_step": round(real_tokens / steps, 1),
        "tokens_per_sentence": round(real_tokens / stream.num_sentences, 2),
        "padding_fraction": round(1 - real_tokens / width_tokens, 4),
        "flops_per_token": flops,
        "fp32_tokens_per_s_ceiling": {name: round(gflops * 1e9 / f) for name, f in flops.items()},
    }


def bench_real(args: argparse.Namespace, synthetic: dict[str, Any], gflops: float) -> dict[str, Any] | None:
    """The real loop on a prepared corpus: `_Trainer.step` (Adam 0.002, clipping) on the batches of
    `training.data.BatchStream` (batch building and feature gathers included), Model A (the text model
    without `--features`) with the exact and the sampled softmax, fp32. After `--real-warmup` steps each,
    `--real-repeats` blocks of `--real-steps` steps alternate between the two softmaxes (full, sampled,
    full, ...) over the same batches; the medians of the blocks are reported, with the ratio to the
    synthetic step of the same run. One validation pass (exact softmax) gives its share of an epoch.
    None (skipped) when `--corpus` is not given or not there."""
    if not args.corpus or not (Path(args.corpus) / "manifest.json").exists():
        return None
    kind: ModelKind = "a" if args.features else "text"
    trainers: dict[str, _Trainer] = {}
    with tempfile.TemporaryDirectory(prefix="mmwe-train-bench-") as tmp:
        for softmax in ("full", "sampled"):
            model = ModelConfig(
                kind=kind,
                embed_dim=args.embed_dim,
                hidden_dim=args.hidden_dim,
                num_negatives=args.negatives,
                softmax=softmax,
            )
            cfg = TrainConfig(
                corpus=args.corpus,
                features=args.features,
                out=str(Path(tmp) / softmax),
                model=model,
                optimizer="adam",
                lr=0.002,
                batch_size=args.batch_size,
                threads=args.threads,
                device="cpu",
                precision="fp32",
                progress=False,
            )
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
                trainers[softmax] = _Trainer(cfg)
    counts = _real_counts(trainers["full"], args, gflops)
    streams = {name: _batches(t, 0) for name, t in trainers.items()}
    for name, trainer in trainers.items():
        for _ in range(args.real_warmup):
            trainer.step(next(streams[name]))
    blocks: dict[str, list[tuple[int, float, float]]] = {name: [] for name in trainers}
    for _ in range(args.real_repeats):
        for name, trainer in trainers.items():
            tokens, t0, c0 = 0, time.perf_counter(), time.process_time()
            for _ in range(args.real_steps):
                tokens += trainer.step(next(streams[name]))[1]  # batch building is inside the timing
            blocks[name].append((tokens, time.perf_counter() - t0, time.process_time() - c0))
    val = trainers["full"]
    c0 = time.process_time()
    val_loss = val.validate()
    val_cpu = time.process_time() - c0
    val_tokens = val.val_stream.num_tokens + val.val_stream.num_sentences if val.val_stream else 0
    synth = synthetic.get(kind)
    results = []
    for name, runs in blocks.items():
        rate = statistics.median(t / wall for t, wall, _ in runs)
        cpu_rate = statistics.median(t / cpu for t, _, cpu in runs)
        epoch_cpu = counts["train_tokens_per_epoch"] / cpu_rate
        results.append(
            {
                "model": kind,
                "softmax": name,
                "steps_per_block": args.real_steps,
                "blocks": len(runs),
                "tokens_per_s_median": round(rate),
                "tokens_per_s_blocks": [round(t / wall) for t, wall, _ in runs],
                "tokens_per_cpu_s_median": round(cpu_rate),
                "tokens_per_cpu_s_x_threads_median": round(cpu_rate * args.threads),
                "ratio_to_synthetic_step": round(rate / synth["tokens_per_s_median"], 2) if synth else None,
                "ratio_to_synthetic_step_cpu": round(
                    cpu_rate * args.threads / synth["tokens_per_cpu_s_x_threads_median"], 2
                )
                if synth
                else None,
                "fp32_ceiling_fraction": round(rate / counts["fp32_tokens_per_s_ceiling"][name], 2),
                "validation_share_of_epoch_cpu": round(val_cpu / (epoch_cpu + val_cpu), 3)
                if val_tokens
                else None,
            }
        )
    return {
        "corpus": counts,
        "synthetic_reference": synth,
        "results": results,
        "validation": {
            "tokens": val_tokens,
            "cpu_s": round(val_cpu, 2),
            "tokens_per_cpu_s": round(val_tokens / val_cpu) if val_tokens else None,
            "loss": val_loss,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=50_000, help="vocabulary size (default 50k)")
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--negatives", type=int, default=1024)
    p.add_argument("--steps", type=int, default=26, help="timed steps per configuration")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--precisions",
        type=lambda text: [x for x in text.split(",") if x],
        help="comma-separated precisions to time, of fp32 and bf16 (default: fp32, plus bf16 when the CPU "
        "computes bf16 natively)",
    )
    p.add_argument(
        "--full-softmax", action="store_true", help="also time the slow exact-softmax reference (bf16)"
    )
    p.add_argument(
        "--corpus", help="also time the real training loop on this prepared corpus (skipped if absent)"
    )
    p.add_argument("--features", help="its image features (Model A); without: the text model")
    p.add_argument("--real-steps", type=int, default=30, help="real-loop steps per timed block (default 30)")
    p.add_argument(
        "--real-repeats",
        type=int,
        default=5,
        help="timed blocks per softmax, alternating full and sampled; medians reported (default 5)",
    )
    p.add_argument(
        "--real-warmup", type=int, default=3, help="untimed real-loop steps per softmax first (default 3)"
    )
    args = p.parse_args()
    if args.precisions is None:
        native = pick_precision("auto", torch.device("cpu")) == "bf16"
        args.precisions = ["fp32", "bf16"] if native else ["fp32"]
    if not set(args.precisions) <= {"fp32", "bf16"} or not args.precisions:
        p.error(f"--precisions takes fp32 and/or bf16, got {args.precisions}")
    torch.set_num_threads(args.threads)
    bound = matmul_bound(args)
    results = [bench_one(kind, "sampled", prec, args) for kind in ("text", "a") for prec in args.precisions]
    if args.full_softmax:
        results.append(bench_one("text", "full", "bf16", args))
    best = max(r["tokens_per_s_median"] for r in results if r["softmax"] == "sampled")
    text_rate = {
        r["precision"]: r["tokens_per_s_median"]
        for r in results
        if r["model"] == "text" and r["softmax"] == "sampled"
    }
    fp32, bf16 = text_rate.get("fp32"), text_rate.get("bf16")
    summary = {
        "benchmark": "train_throughput",
        "threads": args.threads,
        "vocab": args.vocab,
        "embed_dim": args.embed_dim,
        "hidden_dim": args.hidden_dim,
        "batch_size": args.batch_size,
        "negatives": args.negatives,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "matmul_bound": bound,
        "results": results,
        "bf16_over_fp32": round(bf16 / fp32, 2) if fp32 and bf16 else None,
        "target_tokens_per_s": 20_000,
        "best_sampled_tokens_per_s": best,
        "meets_target": best >= 20_000,
    }
    synthetic = {r["model"]: r for r in results if r["softmax"] == "sampled" and r["precision"] == "fp32"}
    summary["real_corpus"] = bench_real(args, synthetic, bound["fp32_gflops_batched_shape"])
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
