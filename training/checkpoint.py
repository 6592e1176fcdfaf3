"""Training checkpoints: `last.pt` (resume point), `best.pt` (lowest validation loss), plus JSON copies of the
config and metrics (`config.json`, `metrics.json`) that can be read without torch.

Every file is written to a temporary sibling, fsynced and renamed over the old one, so an interruption at any
moment leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from index.errors import ArtifactError


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_json(path: Path, data: dict[str, Any]) -> None:
    payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
    _atomic_write(path, lambda f: f.write(payload))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    _atomic_write(path, lambda f: torch.save(state, f))


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
