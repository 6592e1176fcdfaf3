"""Data-parallel training through torchrun with the gloo backend: 2 CPU processes on one node, and 2 nodes of
1 process each meeting through a c10d rendezvous on localhost (what several machines run), which must train
exactly the same model as the single-node run of the same seed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from index.artifacts import load_embeddings
from tests.training.corpus_helpers import write_corpus, write_features

ROOT = Path(__file__).resolve().parents[2]


def tiny_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A 330-sentence corpus over 30 words and 8 images, with 6-dimensional image features."""
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
    return corpus, write_features(tmp_path / "features", ids, rng.normal(size=(8, 6)))


def torchrun(launcher: list[str], corpus: Path, features: Path, out: Path, *train: str) -> list[str]:
    """`python -m torch.distributed.run LAUNCHER -m training train` on the tiny inputs."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launcher,
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
        "--threads",
        "1",
        "--precision",
        "fp32",
        "--no-progress",
        *train,
    ]


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    corpus, features = tiny_inputs(tmp_path)
    out = tmp_path / "emb"
    cmd = torchrun(["--standalone", "--nproc_per_node", "2"], corpus, features, out, "--epochs", "2")
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_torchrun_two_nodes_equals_one_node_of_two_processes(tmp_path: Path) -> None:
    """Two node agents (`--nnodes 2 --nproc_per_node 1`, c10d rendezvous on 127.0.0.1, gloo), as two machines
    would run them, train the same model, bit for bit, as `--nnodes 1 --nproc_per_node 2` with the same seed:
    gloo sums the two ranks' gradients (commutative for two), whichever node gets rank 0."""
    corpus, features = tiny_inputs(tmp_path)
    train = ("--epochs", "1", "--max-steps", "6", "--seed", "3")
    single = tmp_path / "single"
    cmd = torchrun(["--standalone", "--nproc_per_node", "2"], corpus, features, single, *train)
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    nodes = tmp_path / "nodes"
    endpoint = f"127.0.0.1:{free_port()}"
    agents = []
    for rank, host in enumerate(("1", "0")):  # the first agent hosts the rendezvous store
        launcher = [
            "--nnodes",
            "2",
            "--nproc_per_node",
            "1",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            endpoint,
            "--rdzv-id",
            "mmwe-test-nodes",
            "--rdzv-conf",
            f"is_host={host},join_timeout=120",
            "--local-addr",
            "127.0.0.1",
        ]
        log = open(tmp_path / f"node{rank}.log", "w")  # noqa: SIM115 (closed below)
        agents.append(
            (
                subprocess.Popen(
                    torchrun(launcher, corpus, features, nodes, *train),
                    cwd=ROOT,
                    env=ENV,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    try:
        for agent, _ in agents:
            agent.wait(300)
    finally:
        for agent, log in agents:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
    logs = [(tmp_path / f"node{rank}.log").read_text()[-3000:] for rank in range(2)]
    assert [agent.returncode for agent, _ in agents] == [0, 0], logs

    one, two = load_embeddings(single, verify=True), load_embeddings(nodes, verify=True)
    assert one.manifest["metrics"]["world_size"] == two.manifest["metrics"]["world_size"] == 2
    assert one.manifest["metrics"]["global_step"] == two.manifest["metrics"]["global_step"] == 6
    assert one.words == two.words
    assert np.array_equal(one.vectors, two.vectors)
    assert one.manifest["metrics"]["best_val_loss"] == two.manifest["metrics"]["best_val_loss"]
