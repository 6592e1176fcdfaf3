"""The served phrase index and its hot reload.

`IndexHolder.current` is read once per request (the `SearcherDep` dependency), so a request keeps the searcher
it started with: a reload loads the new index fully (and runs one query on it) before swapping the reference,
requests in flight finish on the old index and later ones use the new. A broken index raises `ArtifactError`
and leaves the old one serving.

Several uvicorn workers (`python -m app serve --workers N`) are separate processes: the worker that receives
`POST /v1/admin/reload` swaps at once and records the request in the launch's reload file
(`MMWE_RELOAD_FILE`, JSON `{"generation", "index_dir"}`); every worker polls that file
(`MMWE_RELOAD_POLL_SECONDS`) and follows. A worker (re)started during the launch serves the recorded index.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import faiss

from app.limits import SearchGuard
from index.artifacts import atomic_write
from index.errors import ArtifactError, MmweError
from index.search import PhraseSearcher, Related

log = logging.getLogger("mmwe.app")
T = TypeVar("T")
SEARCH_POOL_THREADS = 4  # per worker: searches in flight at once (each with MMWE_SEARCH_THREADS threads)
# Largest FAISS search (multiply-adds, `PhraseSearcher.search_work`) a single query runs on the event loop.
# The 1M-phrase IVF4096 bench index (nprobe 2) needs 0.59M: ~0.15 ms on the 2-core development machine.
INLINE_MAX_WORK = 1 << 20


@dataclass(frozen=True)
class ReloadRequest:
    generation: int
    index_dir: Path


def load_checked(path: Path) -> PhraseSearcher:
    """Load an index completely and answer one query with it; any failure is an ArtifactError naming it."""
    try:
        searcher = PhraseSearcher.load(path)
    except ArtifactError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a NUL in the path, FAISS refusing a file
        raise ArtifactError(path, f"cannot load index: {type(exc).__name__}: {exc}") from exc
    try:
        if searcher.num_phrases > 0 and searcher.embeddings.words:
            searcher.related(searcher.embeddings.words[0], k=1)
    except MmweError as exc:
        raise ArtifactError(path, f"index loads but cannot answer a query: {exc}") from exc
    except Exception as exc:  # FAISS raises RuntimeError on a damaged index
        raise ArtifactError(path, f"index loads but searching it fails: {type(exc).__name__}: {exc}") from exc
    return searcher


class SearchPool:
    """The threads that run searches, off the event loop (FAISS releases the GIL while it searches).

    A plain executor is lighter per call than Starlette's generic thread pool (no capacity limiter or
    cancellation scope), and its size (SEARCH_POOL_THREADS) bounds the searches running at once.

    `related` answers a small single query on the event loop instead: the hand-off to a pool thread and back
    (two thread wake-ups and GIL hand-overs) cost 0.2-0.3 ms of CPU per request (measured in-process), more
    than the FAISS search of the 1M bench index (~0.15 ms). Only the FAISS call releases the GIL: the Python
    around it (embedding, hits) blocks the loop as much from a pool thread as inline. Inline runs only
    searches bounded by INLINE_MAX_WORK on the CPU with the index's default parameters, answered by their
    first fetch; exact searches, searches that must widen (retried in full in the pool), big indexes without
    a cheap approximate search (e.g. a 1M Flat: 128M multiply-adds) and GPU indexes go to the pool.
    """

    def __init__(self, threads: int, omp_threads: int, max_pending: int = 32, timeout_s: float = 5.0) -> None:
        self.guard = SearchGuard(max_pending, timeout_s)  # 503 above max_pending, 504 past timeout_s
        # OpenMP's thread count is per calling thread: each pool thread sets its own (MMWE_SEARCH_THREADS),
        # otherwise FAISS would start (and spin) a team of all cores for every search.
        self._executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="mmwe-search",
            initializer=faiss.omp_set_num_threads,
            initargs=(omp_threads,),
        )

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a pool thread, admitted and timed by `self.guard` (app/limits.py)."""
        self.guard.admit()
        try:
            future = self._executor.submit(fn, *args, **kwargs)
        except BaseException:
            self.guard.release()
            raise
        return await self.guard.wait(future)

    async def related(
        self, searcher: PhraseSearcher, text: str, k: int, *, exclude_query_words: bool, exact: bool
    ) -> Related:
        """`searcher.related(text, k, ...)`, on the event loop when it is small (see the class)."""
        work = searcher.search_work
        if not exact and work is not None and work <= INLINE_MAX_WORK:
            found = searcher.related_first(text, k, exclude_query_words=exclude_query_words)
            if found is not None:
                return found
        return await self.run(searcher.related, text, k, exclude_query_words=exclude_query_words, exact=exact)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class ReloadFile:
    """The launch-wide record of the latest reload, written atomically under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ReloadRequest | None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            return ReloadRequest(int(data["generation"]), Path(data["index_dir"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def publish(self, index_dir: Path) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.read()
            generation = (previous.generation if previous else 0) + 1
            with atomic_write(self.path, "w") as f:
                f.write(json.dumps({"generation": generation, "index_dir": str(index_dir)}))
        return generation


def settle_heap() -> None:
    """Put what is alive now (the index: a list of a million phrase strings...) out of the cyclic GC's sight.

    Otherwise every full collection walks the whole index (the 1M bench index: 27 ms on an idle 2-core VM)
    with the GIL held, a pause for every request in flight. Called after each swap: the previous index's
    objects are unfrozen and collected first (refcounting frees most of them anyway; this also frees any
    cycles), so frozen memory is never leaked.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class IndexHolder:
    """Holds the served searcher (or why there is none); swaps are atomic reference assignments."""

    def __init__(
        self, reload_file: Path | None = None, on_swap: Callable[[PhraseSearcher | None], None] | None = None
    ) -> None:
        self.on_swap = on_swap
        self.current: PhraseSearcher | None = None
        self.error: str | None = "not loaded yet"
        self.generation = 0
        self.reload_file = ReloadFile(reload_file) if reload_file is not None else None
        self._lock = threading.Lock()
        self._seen_stamp = 0

    def initial_dir(self, default: Path) -> Path:
        """The index this worker starts with: the launch's latest reload, else the configured one."""
        if self.reload_file is not None:
            self._seen_stamp = self.reload_file.stamp()
            recorded = self.reload_file.read()
            if recorded is not None:
                self.generation = recorded.generation
                return recorded.index_dir
        return default

    def load_initial(self, path: Path) -> None:
        try:
            self.current = load_checked(path)
            self.error = None
            log.info("serving index %s (%d phrases)", path, self.current.num_phrases)
        except ArtifactError as exc:
            self.current, self.error = None, str(exc)
            log.error("index not loaded: %s", exc)
        self._swapped()

    def _swapped(self) -> None:
        settle_heap()
        if self.on_swap is not None:
            self.on_swap(self.current)

    def reload(self, path: Path) -> PhraseSearcher:
        """Load `path` and swap it in (raises ArtifactError and keeps the old index on failure)."""
        with self._lock:
            searcher = load_checked(path)
            if self.reload_file is not None:
                self.generation = self.reload_file.publish(path)
                self._seen_stamp = self.reload_file.stamp()
            else:
                self.generation += 1
            self.current, self.error = searcher, None
        self._swapped()
        log.info("reloaded index %s (%d phrases), generation %d", path, searcher.num_phrases, self.generation)
        return searcher

    def follow(self) -> bool:
        """Apply a reload published by another worker; True when this worker swapped."""
        if self.reload_file is None:
            return False
        stamp = self.reload_file.stamp()
        if stamp == self._seen_stamp:
            return False
        with self._lock:
            self._seen_stamp = stamp
            recorded = self.reload_file.read()
            if recorded is None or recorded.generation <= self.generation:
                return False
            try:
                searcher = load_checked(recorded.index_dir)
            except ArtifactError as exc:
                log.error("reload generation %d not applied in this worker: %s", recorded.generation, exc)
                self.generation = recorded.generation
                return False
            self.current, self.error, self.generation = searcher, None, recorded.generation
        self._swapped()
        log.info("followed reload to %s, generation %d", recorded.index_dir, recorded.generation)
        return True

    async def watch(self, interval: float) -> None:
        """Poll the reload file forever (a lifespan task); loading runs in a thread."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.follow)
            except Exception:
                log.exception("reload watcher failed; retrying")
