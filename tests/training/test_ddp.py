"""Data-parallel training through torchrun: 2 CPU processes with the gloo backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from index.artifacts import load_embeddings
from tests.training.corpus_helpers import write_corpus, write_features

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    ids = [f"img{i}" for i in range(8)]

    def sentence() -> tuple[list[str], int]:
        return [words[int(i)] for i in rng.integers(0, 30, int(rng.integers(3, 8)))], int(rng.integers(-1, 8))

    corpus = write_corpus(
        tmp_path / "corpus",
        {"train": [sentence() for _ in range(330)], "val": [sentence() for _ in range(41)]},
        ids,
    )
    features = write_features(tmp_path / "features", ids, rng.normal(size=(8, 6)))
    out = tmp_path / "emb"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training",
        "train",
        "--model",
        "a",
        "--corpus",
        str(corpus),
        "--features",
        str(features),
        "--out",
        str(out),
        "--embed-dim",
        "8",
        "--hidden-dim",
        "16",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--threads",
        "1",
        "--precision",
        "fp32",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    emb = load_embeddings(out, verify=True)
    metrics = emb.manifest["metrics"]
    assert metrics["world_size"] == 2
    # 330 sentences / 16 = 21 batches; each of the 2 ranks runs 10 per epoch (the odd one is dropped).
    assert metrics["global_step"] == 20
    assert metrics["best_val_loss"] < float(np.log(34))
    # Rank 0 exported its replica; DDP keeps replicas identical, so it equals the checkpointed weights.
    best = torch.load(Path(str(out) + ".ckpt") / "best.pt", weights_only=False)["model"]
    assert np.allclose(emb.vectors, best["embedding.weight"][4:].numpy())
