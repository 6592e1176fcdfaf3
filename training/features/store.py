"""The image feature store `mmwe.features` v1 (docs/formats.md §3): float16 memmap + id list.

`load_features` reads one; `FeatureWriter` writes one row block at a time (used by `python -m training
features`, its merge of parts, and the import of a user's own `.npy` features).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import read_manifest, utc_now, write_manifest
from index.errors import ArtifactError

FEATURES_FORMAT = "mmwe.features"
FEATURES_VERSION = 1


@dataclass(frozen=True)
class FeatureStore:
    ids: list[str]
    matrix: np.ndarray  # float16 [count, dim], memory-mapped
    manifest: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def row_of(self) -> dict[str, int]:
        return {image_id: row for row, image_id in enumerate(self.ids)}


def load_features(directory: Path) -> FeatureStore:
    directory = Path(directory)
    manifest = read_manifest(directory, FEATURES_FORMAT, FEATURES_VERSION)
    ids_path = directory / "ids.tsv"
    try:
        with open(ids_path, encoding="utf-8") as f:
            ids = [line.rstrip("\n").split("\t")[0] for line in f if line.strip()]
    except FileNotFoundError as exc:
        raise ArtifactError(ids_path, "missing file") from exc
    count, dim = int(manifest["count"]), int(manifest["dim"])
    if len(ids) != count:
        raise ArtifactError(ids_path, f"{len(ids)} ids but manifest says count={count}")
    mat_path = directory / "features.f16"
    expected = count * dim * 2
    if not mat_path.is_file() or mat_path.stat().st_size != expected:
        raise ArtifactError(mat_path, f"expected {expected} bytes of float16 [{count}, {dim}]")
    matrix = (
        np.memmap(mat_path, dtype="<f2", mode="r", shape=(count, dim)) if count else np.zeros((0, dim), "<f2")
    )
    return FeatureStore(ids=ids, matrix=matrix, manifest=manifest)


class FeatureWriter:
    """Stream rows into a new (temporary, empty) feature-store folder; `close` writes the manifest."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = Path(directory)
        self.dim = dim
        self.count = 0
        self.failed = 0
        self._matrix = open(self.directory / "features.f16", "wb")  # noqa: SIM115 (closed in close())
        self._ids = open(self.directory / "ids.tsv", "w", encoding="utf-8")  # noqa: SIM115
        self._failed = open(self.directory / "failed.tsv", "w", encoding="utf-8")  # noqa: SIM115

    def add(self, ids: list[str], rows: np.ndarray) -> None:
        """Append `rows` [len(ids), dim] (any float dtype; stored as float16)."""
        rows = np.asarray(rows)
        if rows.shape != (len(ids), self.dim):
            raise ValueError(f"rows have shape {rows.shape}, expected ({len(ids)}, {self.dim})")
        if not np.isfinite(rows).all():
            raise ValueError("features contain NaN or infinity")
        for image_id in ids:
            if not image_id or "\t" in image_id or "\n" in image_id:
                raise ValueError(f"image id is empty or has a tab/newline: {image_id!r}")
            self._ids.write(f"{image_id}\t{self.count}\n")
            self.count += 1
        self._matrix.write(rows.astype("<f2").tobytes())

    def fail(self, image_id: str, reason: str) -> None:
        self._failed.write(f"{image_id}\t{' '.join(reason.split())}\n")
        self.failed += 1

    def close(self, **fields: Any) -> dict[str, Any]:
        """Write the manifest (format, version, dim, count, dtype, failed, created_at + `fields`)."""
        for f in (self._matrix, self._ids, self._failed):
            f.close()
        manifest: dict[str, Any] = {
            "binarised": False,
            **fields,
            "format": FEATURES_FORMAT,
            "version": FEATURES_VERSION,
            "dim": self.dim,
            "count": self.count,
            "dtype": "float16",
            "failed": self.failed,
            "created_at": utc_now(),
        }
        write_manifest(self.directory, manifest)
        return manifest


def read_failed(directory: Path) -> list[tuple[str, str]]:
    """(image_id, reason) of every image a feature store could not read."""
    path = Path(directory) / "failed.tsv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [
            (p[0], p[1] if len(p) > 1 else "") for p in (ln.rstrip("\n").split("\t", 1) for ln in f) if p[0]
        ]
