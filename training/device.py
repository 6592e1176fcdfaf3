"""Where training and feature extraction run: `pick_device("auto")` is the GPU when torch sees one (the one of
this process's `LOCAL_RANK` under torchrun), else the CPU; `pick_precision` the autocast dtype for it."""

from __future__ import annotations

import os

import torch


def pick_device(name: str = "auto") -> torch.device:
    """`auto`: cuda:LOCAL_RANK when CUDA is available, else cpu; any other name as torch spells it."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(name)


def pick_precision(name: str, device: torch.device) -> str:
    """`auto`: bf16 (or fp16 without bf16 support) on a GPU; on a CPU bf16 where it has AMX/AVX512-BF16, else
    fp32; any other name unchanged."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # bf16 autocast is ~1.5x faster on CPUs with AMX/AVX512-BF16 (bench/train_bench.py); exact fp32 elsewhere.
    return "bf16" if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported() else "fp32"
