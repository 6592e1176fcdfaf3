"""The image feature store `mmwe.features` v1 (docs/formats.md §3): float16 memmap + id list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import read_manifest
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
        ids = [line.rstrip("\n").split("\t")[0] for line in open(ids_path, encoding="utf-8") if line.strip()]
    except FileNotFoundError as exc:
        raise ArtifactError(ids_path, "missing file") from exc
    count, dim = int(manifest["count"]), int(manifest["dim"])
    if len(ids) != count:
        raise ArtifactError(ids_path, f"{len(ids)} ids but manifest says count={count}")
    mat_path = directory / "features.f16"
    expected = count * dim * 2
    if not mat_path.is_file() or mat_path.stat().st_size != expected:
        raise ArtifactError(mat_path, f"expected {expected} bytes of float16 [{count}, {dim}]")
    matrix = np.memmap(mat_path, dtype="<f2", mode="r", shape=(count, dim)) if count else np.zeros((0, dim), "<f2")
    return FeatureStore(ids=ids, matrix=matrix, manifest=manifest)
