"""Optional GPU path: used when faiss-gpu is installed (`pip install mmwe[gpu]`) and a CUDA device is visible.

Flat and IVF indexes (any IVF encoding faiss-gpu supports) are trained and filled on the GPU and copied
back to the CPU to be written; HNSW has no GPU builder in FAISS, so it always builds on the CPU. Exact ground
truth for recall tuning also runs on the GPU when one is used.
Nothing here runs without a GPU; its tests are marked `gpu`.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from index.ann import inner_index


def gpu_count() -> int:
    """Number of CUDA devices FAISS can use (0 with faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None and hasattr(faiss, "StandardGpuResources") else 0


def gpu_supported(index: Any) -> bool:
    """Whether this index type can be built on the GPU (Flat and IVF, not HNSW)."""
    inner = inner_index(index)
    return isinstance(inner, (faiss.IndexFlat, faiss.IndexIVF)) and not isinstance(inner, faiss.IndexHNSW)


def use_gpu(device: str, index: Any) -> bool:
    """Resolve --device: cpu never, gpu always (error if impossible), auto when available and supported."""
    if device == "cpu":
        return False
    available = gpu_count() > 0
    if device == "gpu":
        if not available:
            raise ValueError(
                "--device gpu: faiss-gpu with a visible CUDA device is required (pip install mmwe[gpu])"
            )
        if not gpu_supported(index):
            raise ValueError(f"--device gpu: {type(inner_index(index)).__name__} has no GPU builder in FAISS")
        return True
    return available and gpu_supported(index)


class GpuSession:
    """Holds the GPU resources for the lifetime of a build."""

    def __init__(self, device: int = 0) -> None:
        self.device = device
        self.resources = faiss.StandardGpuResources()

    def to_gpu(self, index: Any) -> Any:
        return faiss.index_cpu_to_gpu(self.resources, self.device, index)

    @staticmethod
    def to_cpu(index: Any) -> Any:
        return faiss.index_gpu_to_cpu(index)

    def knn(self, queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        """Exact inner-product top-k on the GPU, int64 [Q, k]."""
        _, ids = faiss.knn_gpu(self.resources, queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        return np.asarray(ids, dtype=np.int64)
