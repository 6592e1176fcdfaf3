"""Loading: memory-mapped indexes, memory reporting, OpenMP thread scoping, and the guarded GPU path."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.ann import omp_threads
from index.build import BuildConfig, build_index
from index.gpu import gpu_count
from index.ranking import Ranking
from index.search import PhraseSearcher


@pytest.mark.parametrize("factory", ["Flat", "HNSW16", "IVF32,Flat"])
def test_mmap_and_heap_loads_agree(tmp_path: Path, big_embeddings: Path, factory: str) -> None:
    out = tmp_path / "ix"
    build_index(big_embeddings, out, config=BuildConfig(factory=factory, num_queries=100, progress=False))
    mapped = PhraseSearcher.load(out, mmap=True)
    heap = PhraseSearcher.load(out, mmap=False)
    assert mapped.mmapped and not heap.mmapped
    for q in ("aaw0", "bbw27 ccw54"):
        assert mapped.related(q, k=10) == heap.related(q, k=10)
    report = mapped.memory_report()
    assert report["index"]["mapped"] and report["index"]["bytes"] == (out / "index.faiss").stat().st_size
    assert mapped.memory_bytes() == sum(part["bytes"] for part in report.values())
    assert report["embeddings"]["bytes"] >= 3000 * 24 * 4


def test_a_mapped_index_serves_and_reports_its_memory_after_its_files_are_deleted(
    tmp_path: Path, big_embeddings: Path
) -> None:
    """Serving processes delete copies other workers may still map (app/launch.py `prune`): a loaded index
    must keep answering and reporting its size (a worker's start once died on a stat of a pruned copy)."""
    out = tmp_path / "ix"
    build_index(big_embeddings, out, config=BuildConfig(factory="Flat", num_queries=100, progress=False))
    searcher = PhraseSearcher.load(out, mmap=True)
    before, answer = searcher.memory_report(), searcher.related("aaw0", k=5)
    shutil.rmtree(out)
    assert searcher.memory_report() == before and searcher.memory_bytes() > 0
    assert searcher.related("aaw0", k=5) == answer


def test_exclude_words_on_approximate_index(tmp_path: Path, big_embeddings: Path) -> None:
    out = tmp_path / "ix"
    build_index(
        big_embeddings, out, config=BuildConfig(factory="IVF64,Flat", num_queries=100, progress=False)
    )
    s = PhraseSearcher.load(out)
    exclude = Ranking(popularity=0.0, min_count=0, compounds="exclude", collapse=False)
    r = s.related("aaw0 bbw1", k=15, ranking=exclude, search_params={"nprobe": 1})
    assert len(r.hits) == 15 and all(h.phrase not in ("aaw0", "bbw1") for h in r.hits)
    scores = [h.score for h in r.hits]
    assert scores == sorted(scores, reverse=True)


def test_omp_threads_is_scoped_to_the_calling_thread() -> None:
    before = faiss.omp_get_max_threads()
    seen: list[int] = []

    def other() -> None:
        seen.append(faiss.omp_get_max_threads())

    def run_other() -> None:
        t = threading.Thread(target=other)
        t.start()
        t.join()

    run_other()  # what a fresh thread sees, whatever earlier tests did to this thread
    with omp_threads(1):
        assert faiss.omp_get_max_threads() == 1
        run_other()
    assert faiss.omp_get_max_threads() == before
    assert seen[1] == seen[0]


def test_gpu_device_requires_a_gpu(tmp_path: Path, big_embeddings: Path) -> None:
    if gpu_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="faiss-gpu"):
        build_index(
            big_embeddings, tmp_path / "ix", config=BuildConfig(factory="Flat", device="gpu", progress=False)
        )
    assert not (tmp_path / "ix").exists()


@pytest.mark.gpu
@pytest.mark.skipif(gpu_count() == 0, reason="needs faiss-gpu and a CUDA device")
@pytest.mark.parametrize("factory", ["Flat", "IVF64,Flat"])
def test_gpu_build_matches_cpu(tmp_path: Path, big_embeddings: Path, factory: str) -> None:
    cfg = {"factory": factory, "num_queries": 200, "progress": False}
    build_index(big_embeddings, tmp_path / "gpu", config=BuildConfig(device="gpu", **cfg))  # type: ignore[arg-type]
    build_index(big_embeddings, tmp_path / "cpu", config=BuildConfig(device="cpu", **cfg))  # type: ignore[arg-type]
    gpu, cpu = PhraseSearcher.load(tmp_path / "gpu"), PhraseSearcher.load(tmp_path / "cpu")
    assert gpu.manifest["device"] == "gpu" and gpu.manifest["recall"]["target_met"]
    queries = [gpu.phrases[i] for i in range(0, 3000, 100)]
    exact = [[h.phrase for h in cpu.related(q, k=10, exact=True).hits] for q in queries]
    got = [[h.phrase for h in gpu.related(q, k=10).hits] for q in queries]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact, strict=True)])
    assert overlap >= 0.9


@pytest.mark.gpu
@pytest.mark.skipif(gpu_count() == 0, reason="needs faiss-gpu and a CUDA device")
def test_gpu_search_matches_cpu(tmp_path: Path, big_embeddings: Path) -> None:
    build_index(big_embeddings, tmp_path / "ix", config=BuildConfig(factory="IVF64,Flat", progress=False))
    cpu = PhraseSearcher.load(tmp_path / "ix")
    gpu = PhraseSearcher.load(tmp_path / "ix", device="gpu")
    for q in ("aaw0", "bbw27 ccw54"):
        a = [h.phrase for h in cpu.related(q, k=10, search_params={"nprobe": 64}).hits]
        b = [h.phrase for h in gpu.related(q, k=10, search_params={"nprobe": 64}).hits]
        assert a == b
