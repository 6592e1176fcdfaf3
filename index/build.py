"""Build an `mmwe.index` artifact (docs/formats.md §5): phrases -> vectors -> FAISS index -> directory.
The format itself (file names, writer, reader) is `index/index_format.py`.

    from index.build import BuildConfig, build_index
    manifest = build_index(Path("emb"), Path("out"), corpus=Path("corpus"), config=BuildConfig())

CLI: `python -m index build --help`. The output directory is written atomically: a failed or interrupted
build leaves any index already there untouched, and re-running a build is always safe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from index.ann import (
    create_index,
    param_name,
    set_default_params,
    set_ef_construction,
    train_and_add,
    train_size,
)
from index.artifacts import atomic_directory, load_embeddings, utc_now
from index.auto import choose_factory
from index.gpu import GpuSession, use_gpu
from index.index_format import embeddings_reference, write_index_files
from index.mining import MiningConfig
from index.phrases import phrase_vectors
from index.ranking import load_denylist
from index.tuning import tune
from index.vocabulary import collect_phrases


@dataclass(frozen=True)
class BuildConfig:
    factory: str = "auto"  # a FAISS factory string, or "auto"
    target_recall: float = 0.95  # recall@k the search parameter is tuned to reach
    recall_k: int = 10
    num_queries: int = 1000  # held-out queries for recall measurement
    ef_construction: int = 40  # HNSW build quality
    memory_budget: int | None = None  # bytes the index may take in RAM ("auto" honours it)
    train_size: int | None = None  # vectors used to train IVF/PQ (default: automatic)
    device: str = "auto"  # cpu | gpu | auto (GPU when faiss-gpu sees one and the index type allows it)
    threads: int | None = None  # FAISS OpenMP threads (default: FAISS's choice)
    seed: int = 0
    mining: MiningConfig = field(default_factory=MiningConfig)
    splits: tuple[str, ...] = ("train",)
    corpus_phrases: bool = True  # pick up <corpus>/phrases.tsv when present
    denylist: str = "default"  # phrases it blocks are not indexed: "default", "none" or a file
    progress: bool = True


def build_faiss(vectors: np.ndarray, config: BuildConfig) -> tuple[Any, dict[str, Any]]:
    """Create, train, fill and tune an index over normalised float32 [N, D]; return (index, manifest part)."""
    n, dim = vectors.shape
    factory = (
        choose_factory(n, dim, config.memory_budget, config.target_recall)
        if config.factory == "auto"
        else config.factory
    )
    index = create_index(factory, dim)
    set_ef_construction(index, config.ef_construction)
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    num_queries = min(config.num_queries, n)
    query_rows = np.sort(perm[:num_queries])
    rest = perm[num_queries:] if n > num_queries else perm
    train_rows = rest[: train_size(index, len(rest), config.train_size)]
    on_gpu = use_gpu(config.device, index)
    session = GpuSession() if on_gpu else None
    t0 = time.perf_counter()
    with tqdm(total=n, desc=f"adding to {factory}", unit="vec", disable=not config.progress) as bar:
        if session is not None:
            gpu_index = session.to_gpu(index)
            train_seconds = train_and_add(gpu_index, vectors, train_rows, progress=bar.update)
            index = session.to_cpu(gpu_index)
        else:
            train_seconds = train_and_add(index, vectors, train_rows, progress=bar.update)
    add_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    knn = session.knn if session is not None else None
    result, _ = tune(
        index, vectors, query_rows, min(config.recall_k, max(n - 1, 1)), config.target_recall, knn=knn
    )
    if result.params:
        set_default_params(index, result.params)
    part: dict[str, Any] = {
        "factory": factory,
        "factory_requested": config.factory,
        "index_type": type(index).__name__,
        "search_param": param_name(index),
        "search_params": result.params,
        "recall": {
            "k": config.recall_k,
            "recall_at_k": round(result.recall, 4),
            "num_queries": num_queries,
            "target": config.target_recall,
            "target_met": result.target_met,
            "queries": "held-out phrase vectors (excluded from training), query phrase excluded from results",
            "curve": result.curve,
        },
        "timings": {
            "train_seconds": round(train_seconds, 3),
            "train_add_seconds": round(add_seconds, 3),
            "tune_seconds": round(time.perf_counter() - t1, 3),
        },
        "device": "gpu" if on_gpu else "cpu",
        "train_vectors": int(len(train_rows)) if train_seconds > 0 else 0,
        "ef_construction": config.ef_construction if param_name(index) == "efSearch" else None,
    }
    return index, part


def build_index(
    embeddings_dir: Path,
    out: Path,
    *,
    corpus: Path | None = None,
    phrase_files: Sequence[Path] = (),
    config: BuildConfig | None = None,
) -> dict[str, Any]:
    """Build the whole artifact into `out` (atomically); return its manifest."""
    config = config or BuildConfig()
    if config.threads:
        faiss.omp_set_num_threads(config.threads)
    started = time.perf_counter()
    embeddings_dir = Path(embeddings_dir)
    emb = load_embeddings(embeddings_dir, mmap=True, verify=True)
    vocab = collect_phrases(
        emb,
        corpus=corpus,
        phrase_files=phrase_files,
        mining=config.mining,
        splits=config.splits,
        corpus_phrases=config.corpus_phrases,
        progress=config.progress,
    )
    denylist = load_denylist(config.denylist)
    denied = 0
    if denylist is not None:
        allowed = [i for i, t in enumerate(vocab.texts) if not denylist.blocks_text(t)]
        denied = len(vocab.texts) - len(allowed)
        vocab.texts = [vocab.texts[i] for i in allowed]
        vocab.counts = [vocab.counts[i] for i in allowed]
    pv = phrase_vectors(vocab.texts, emb.word_index(), emb.vectors)
    if len(pv.keep) == 0:
        raise ValueError(f"no phrase has a vector: all {len(vocab.texts)} candidates have OOV words")
    texts = [vocab.texts[i] for i in pv.keep]
    counts = [vocab.counts[i] for i in pv.keep]
    index, part = build_faiss(pv.vectors, config)
    with atomic_directory(Path(out)) as tmp:
        manifest = write_index_files(
            tmp,
            index,
            texts,
            counts,
            pv.vectors,
            embeddings_dir,
            {
                "embeddings": embeddings_reference(embeddings_dir, emb),
                "metric": "inner_product",
                "normalized": True,
                "num_phrases": len(texts),
                "dim": emb.dim,
                "phrase_sources": vocab.sources,
                "phrase_policy": {
                    "vector": "mean of word vectors, L2-normalised",
                    "oov": "phrases with any out-of-vocabulary word are not indexed",
                    "candidates": len(vocab.texts) + denied,
                    "denylist": {"source": denylist.source if denylist else None, "dropped": denied},
                    "dropped_oov": pv.dropped_oov,
                    "dropped_zero": pv.dropped_zero,
                },
                **part,
                "build_config": {k: v for k, v in asdict(config).items() if k not in ("mining", "progress")},
                "build_seconds": round(time.perf_counter() - started, 3),
                "created_at": utc_now(),
            },
        )
    return manifest
