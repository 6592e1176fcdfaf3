"""Training throughput of the GRU models in tokens/s (target: >= 20k tokens/s with 2 CPU threads).

    python bench/train_bench.py                 # quick (minutes): E128/H512, batch 256, sampled softmax
    python bench/train_bench.py --precisions fp32,bf16 --full-softmax    # + bf16 anywhere, exact softmax
    python bench/train_bench.py --steps 20 --threads 2 --vocab 50000
    python bench/train_bench.py --corpus data/exp/flickr8k_coco --features data/exp/features --real-steps 60

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
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from training.device import pick_precision  # noqa: E402
from training.model import ModelConfig, MultimodalGRU  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

LENGTHS = list(range(8, 21))  # words per sentence in a bucketed batch (+1 for <eos>)


def bench_one(kind: str, softmax: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
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
    b = args.batch_size

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


def bench_real(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The real loop (`training.train.train`: data loading, feature gathers, optimiser) on a prepared corpus,
    Model A with the exact and the sampled softmax, `--real-steps` steps each, no validation. None (skipped)
    when `--corpus` is not given or not there."""
    if not args.corpus or not (Path(args.corpus) / "manifest.json").exists():
        return None
    import tempfile

    out = []
    for softmax in ("full", "sampled"):
        with tempfile.TemporaryDirectory(prefix="mmwe-train-bench-") as tmp:
            model = ModelConfig(kind="a" if args.features else "text", softmax=softmax)
            cfg = TrainConfig(
                corpus=args.corpus,
                features=args.features,
                out=str(Path(tmp) / "emb"),
                model=model,
                optimizer="adam",
                lr=0.002,
                max_steps=args.real_steps,
                checkpoint_every=0,
                threads=args.threads,
                precision="fp32",
                val_split="none",
                progress=False,
            )
            cpu0 = time.process_time()
            metrics = train(cfg)
            cpu = time.process_time() - cpu0
        out.append(
            {
                "model": model.kind,
                "softmax": softmax,
                "steps": metrics["global_step"],
                "tokens": metrics["train_tokens"],
                "tokens_per_s": metrics["tokens_per_second"],
                "tokens_per_cpu_s_x_threads": round(metrics["train_tokens"] / cpu * args.threads),
            }
        )
    return out


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
    p.add_argument(
        "--real-steps", type=int, default=60, help="steps of the real loop per softmax (default 60)"
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
        "real_corpus": bench_real(args),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
