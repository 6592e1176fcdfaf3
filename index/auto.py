"""`--factory auto`: pick an index type from the collection size, a memory budget and the target recall.

Rules (measured on this project's 2-core machine, see docs/index.md):
- small collections (N * D <= EXACT_MAX_FLOATS, about 32k phrases at d = 128) use exact `Flat`: a brute-force
  scan is already about a millisecond and recall is 1;
- otherwise `HNSW32` (fast, high recall, ~ (4 D + 8 M + ~40) bytes per phrase) when it fits the memory budget;
- otherwise IVF with the most precise encoding that fits: `Flat` (4 D bytes), `SQ8` (D bytes),
  `PQ` (D / 4 bytes), with nlist ~ 4 sqrt(N) (a power of two, 64..65536).
A target recall above 0.98 raises HNSW's M to 48.
"""

from __future__ import annotations

import math

EXACT_MAX_FLOATS = 32_768 * 128
IVF_ID_BYTES = 8


def hnsw_bytes(n: int, dim: int, m: int) -> int:
    """Approximate RAM of IndexHNSWFlat: vectors + level-0 links (2M int32) + upper levels and offsets."""
    return n * (4 * dim + 2 * m * 4 + 40)


def ivf_nlist(n: int) -> int:
    return int(min(65_536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def choose_factory(n: int, dim: int, memory_budget: int | None, target_recall: float) -> str:
    if n * dim <= EXACT_MAX_FLOATS:
        return "Flat"
    m = 48 if target_recall > 0.98 else 32
    budget = memory_budget if memory_budget is not None else 1 << 62
    if hnsw_bytes(n, dim, m) <= budget:
        return f"HNSW{m}"
    nlist = ivf_nlist(n)
    for code_bytes, encoding in ((4 * dim, "Flat"), (dim, "SQ8")):
        if n * (code_bytes + IVF_ID_BYTES) <= budget:
            return f"IVF{nlist},{encoding}"
    pq = max(4, dim // 4)
    while dim % pq:
        pq -= 1
    return f"IVF{nlist},PQ{pq}"
