"""Training checkpoints: `last.pt` (resume point), `best.pt` (lowest validation loss), plus JSON copies of the
config and metrics (`config.json`, `metrics.json`) that can be read without torch.

Every file is written to a temporary sibling, fsynced and renamed over the old one, so an interruption at any
moment leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from index.artifacts import atomic_write
from index.errors import ArtifactError


def save_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_write(path) as f:
        torch.save(state, f)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's state, unpickled with `weights_only=True`: tensors, containers and plain values only,
    so a crafted `.pt` file cannot run code when it is loaded (it is refused as corrupt)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ArtifactError(path, "missing checkpoint") from exc
    except Exception as exc:  # torch raises several types for a truncated or foreign file
        raise ArtifactError(path, f"corrupt checkpoint: {exc}") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ArtifactError(path, "not an mmwe training checkpoint")
    return state
