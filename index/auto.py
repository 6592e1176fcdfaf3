"""`--factory auto`: pick an index type from the collection size, a memory budget and the target recall.

Rules (measured on this project's 2-core machine, docs/index.md):
- small collections (N * D <= EXACT_MAX_FLOATS, about 32k phrases at d = 128) use exact `Flat`: a scan costs
  about a millisecond and recall is 1;
- otherwise IVF with the most precise encoding that fits the memory budget: `Flat` (4 D bytes per phrase),
  `SQ8` (D bytes), `PQ` (D / 4 bytes), with nlist ~ sqrt(N) (a power of two, 64..65536). At 1M x 128
  (clustered phrase vectors, bench/index_bench.py) IVF1024,Flat built in 117 s (79 s CPU) and reached
  recall@10 0.967 at nprobe 2, p50 0.2 ms; IVF2048 (nlist ~ 2 sqrt(N)) gave 0.980 at nprobe 4 but took 308 s
  (120 s CPU), over the 4-minute budget on this busy machine. HNSW32 built slower than IVF at 100k and needed
  efSearch 192 for 0.95; it stays available through an explicit factory string.
The search parameter (nprobe) is then tuned to the target recall at build time.
"""

from __future__ import annotations

import math

EXACT_MAX_FLOATS = 32_768 * 128
IVF_ID_BYTES = 8


def ivf_nlist(n: int) -> int:
    return int(min(65_536, max(64, 2 ** round(math.log2(math.sqrt(max(n, 1)))))))


def ivf_bytes(n: int, dim: int, code_bytes: int) -> int:
    """Approximate RAM of an IVF index: codes + ids per vector, plus the centroids."""
    return n * (code_bytes + IVF_ID_BYTES) + ivf_nlist(n) * dim * 4


def choose_factory(n: int, dim: int, memory_budget: int | None, target_recall: float) -> str:
    """A FAISS factory string for n vectors of `dim` (target_recall is met later by tuning nprobe)."""
    if n * dim <= EXACT_MAX_FLOATS:
        return "Flat"
    budget = memory_budget if memory_budget is not None else 1 << 62
    nlist = ivf_nlist(n)
    for code_bytes, encoding in ((4 * dim, "Flat"), (dim, "SQ8")):
        if ivf_bytes(n, dim, code_bytes) <= budget:
            return f"IVF{nlist},{encoding}"
    pq = max(4, dim // 4)
    while dim % pq:
        pq -= 1
    return f"IVF{nlist},PQ{pq}"
