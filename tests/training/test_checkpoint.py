"""Training checkpoints load with `torch.load(weights_only=True)` (issue 14 item 6): a crafted `.pt` whose
pickle would run code is refused, and nothing runs; real checkpoints round-trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from index.errors import ArtifactError
from training.checkpoint import load_checkpoint, save_checkpoint


class Payload:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "model": {}, "extra": Payload(marker)}, path)
    with pytest.raises(ArtifactError, match="corrupt checkpoint"):
        load_checkpoint(path)
    assert not marker.exists(), "unpickling ran code"


def test_real_checkpoint_state_round_trips(tmp_path: Path) -> None:
    model = torch.nn.GRU(4, 3)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, 1, 4))[0].sum().backward()
    optimizer.step()
    state = {
        "config": {"model": {"dim": 3}, "lr": 0.01},
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": torch.Generator().get_state(),
        "state": {"epoch": 1, "history": [{"val_loss": 1.5, "step": 3}], "best": None},
    }
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["state"] == state["state"] and loaded["config"] == state["config"]
    assert torch.equal(loaded["model"]["weight_ih_l0"], state["model"]["weight_ih_l0"])
