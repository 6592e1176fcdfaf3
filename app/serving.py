"""The served phrase index and its hot reload.

`IndexHolder.current` is read once per request (the `SearcherDep` dependency), so a request keeps the searcher
it started with: a reload loads the new index fully (and runs one query on it) before swapping the reference,
requests in flight finish on the old index and later ones use the new. A broken index raises `ArtifactError`
and leaves the old one serving.

Several uvicorn workers (`python -m app serve --workers N`) are separate processes: the worker that receives
`POST /v1/admin/reload` swaps at once and records the request in the launch's reload file
(`MMWE_RELOAD_FILE`, JSON `{"generation", "index_dir"}`); every worker polls that file
(`MMWE_RELOAD_POLL_SECONDS`) and follows. A worker (re)started during the launch serves the recorded index.
A worker reports a generation only once it has loaded it; a failed load is retried with backoff and shows
in `/readyz`, `/metrics` (`mmwe_index_generation{worker}`) and the worker's status file, on which the admin
reload waits. Indexes are served from verified private copies, with the last one that loaded as the fallback
(app/launch.py).

An `IndexHolder` serves one index; several named models (MMWE_INDEXES) are one holder each, with their own
reload file, worker board and snapshots (app/registry.py, `app.main.build_models`).
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import faiss

from app.launch import SnapshotStore, WorkerBoard, WorkerStatus
from app.limits import SearchGuard
from app.metrics import INDEX_GENERATION, INDEX_LOAD_FAILURES, MODEL_GENERATION
from app.model_names import DEFAULT_MODEL
from app.result_cache import ResultCache
from index.artifacts import atomic_write
from index.errors import ArtifactError, MmweError
from index.ranking import Ranking
from index.search import PhraseSearcher, Related

log = logging.getLogger("mmwe.app")
T = TypeVar("T")
SEARCH_POOL_THREADS = 4  # per worker: searches in flight at once (each with MMWE_SEARCH_THREADS threads)
# Largest FAISS search (multiply-adds, `PhraseSearcher.search_work`) a single query runs on the event loop.
# The 1M-phrase IVF4096 bench index (nprobe 2) needs 0.59M: ~0.15 ms on the 2-core development machine.
INLINE_MAX_WORK = 1 << 20


# The model name (MMWE_INDEXES) each loaded searcher serves under, set as it loads, before anyone can see it.
MODEL_NAMES: weakref.WeakKeyDictionary[PhraseSearcher, str] = weakref.WeakKeyDictionary()

RETRY_MIN_S = 1.0  # a worker whose load of a reload failed retries after this, doubling each time ...
RETRY_MAX_S = 30.0  # ... up to this


@dataclass(frozen=True)
class ReloadRequest:
    generation: int
    index_dir: Path
    snapshot: Path | None = None  # the verified private copy to load (app/launch.py)


def load_checked(path: Path) -> PhraseSearcher:
    """Load an index completely and answer one query with it; any failure is an ArtifactError naming it."""
    try:
        searcher = PhraseSearcher.load(path)
    except ArtifactError:
        raise
    except Exception as exc:  # e.g. a NUL in the path, FAISS refusing a file, a manifest of the wrong shape
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

    def __init__(
        self,
        threads: int,
        omp_threads: int,
        max_pending: int = 32,
        timeout_s: float = 5.0,
        cache: ResultCache | None = None,
    ) -> None:
        self.guard = SearchGuard(max_pending, timeout_s)  # 503 above max_pending, 504 past timeout_s
        self.cache = cache if cache is not None else ResultCache(0)  # app/result_cache.py
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
        self, searcher: PhraseSearcher, text: str, k: int, *, ranking: Ranking, exact: bool
    ) -> Related:
        """`searcher.related(text, k, ...)`, on the event loop when it is small (see the class), or the
        answer the result cache holds for the same index and inputs."""
        cache = self.cache
        key = None
        if cache.enabled:
            # Ranking's equality leaves the denylist out, so its identity is part of the key.
            key = (text, k, ranking, id(ranking.denylist), exact)
            cached = cache.get(searcher, key)
            if cached is not None:
                return cached
        work = searcher.search_work
        found: Related | None = None
        if not exact and work is not None and work <= INLINE_MAX_WORK:
            found = searcher.related_first(text, k, ranking=ranking)
        if found is None:
            found = await self.run(searcher.related, text, k, ranking=ranking, exact=exact)
        if key is not None:
            cache.put(searcher, key, found)
        return found

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class ReloadFile:
    """The launch-wide record of the latest reload, written atomically under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ReloadRequest | None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            snapshot = data.get("snapshot")
            return ReloadRequest(
                int(data["generation"]), Path(data["index_dir"]), Path(snapshot) if snapshot else None
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def publish(self, index_dir: Path, snapshot: Path | None, generation: int | None = None) -> int:
        """Record a reload: as `generation` (the replicas' desired state, app/replicas.py) or the next one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.read()
            if generation is None:
                generation = (previous.generation if previous else 0) + 1
            record = {"generation": generation, "index_dir": str(index_dir)}
            if snapshot is not None:
                record["snapshot"] = str(snapshot)
            with atomic_write(self.path, "w") as f:
                f.write(json.dumps(record))
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
    """Holds the served searcher (or why there is none); swaps are atomic reference assignments.

    `generation` is the reload generation this worker has loaded; `target` the launch's latest, as last read.
    A worker whose load of the target fails keeps serving what it has, reports the failure (`load_error`:
    /readyz, /metrics, its status file) and retries with backoff (RETRY_MIN_S doubling to RETRY_MAX_S).
    """

    def __init__(
        self,
        reload_file: Path | None = None,
        on_swap: Callable[[PhraseSearcher | None], None] | None = None,
        snapshots: SnapshotStore | None = None,
        board: WorkerBoard | None = None,
        name: str = DEFAULT_MODEL,
        primary: bool = True,
    ) -> None:
        self.name = name  # the model name (app/registry.py)
        self.primary = primary  # the default model: also reported by the unlabelled metrics
        self.on_swap = on_swap
        self.current: PhraseSearcher | None = None
        self.source: Path | None = None  # the directory the served index was loaded from (before its copy)
        self.error: str | None = "not loaded yet"
        self.generation = 0
        self.target = 0
        self.load_error: str | None = None  # why `target` is not loaded (retried)
        self.fallback: str | None = None  # why this worker serves the last known good index
        self.reload_file = ReloadFile(reload_file) if reload_file is not None else None
        self.snapshots = snapshots
        self.board = board
        self._lock = threading.Lock()
        self._seen_stamp = 0
        self._retry_at = 0.0
        self._backoff = RETRY_MIN_S

    @property
    def problem(self) -> str | None:
        """What is wrong with what this worker serves, for /readyz; None when it serves the launch's index."""
        if self.current is None:
            return self.error or "no index loaded"
        if self.target > self.generation and self.load_error:  # still loading: ready (app/replicas.py grace)
            return self.load_error
        return None

    def status(self) -> WorkerStatus:
        return WorkerStatus(os.getpid(), self.generation, self.target, self.problem)

    def _report(self) -> None:
        if self.primary:
            INDEX_GENERATION.labels(str(os.getpid())).set(self.generation)
        MODEL_GENERATION.labels(self.name, str(os.getpid())).set(self.generation)
        if self.board is not None:
            self.board.publish(self.status())

    def _load(
        self,
        source: Path,
        snapshot: Path | None = None,
        check: Callable[[PhraseSearcher], None] | None = None,
    ) -> tuple[PhraseSearcher, Path]:
        """Load `source` from its private verified copy (see app/launch.py); errors name `source`'s files.
        `check(searcher)` runs before the copy is recorded as the last known good."""
        if self.snapshots is None:
            searcher = self._named(load_checked(source))
            if check is not None:
                check(searcher)
            return searcher, source
        copy = snapshot if snapshot is not None and snapshot.is_dir() else self.snapshots.snapshot(source)
        try:
            searcher = self._named(load_checked(copy))
        except ArtifactError as exc:
            self.snapshots.discard(copy)
            try:
                named = source / exc.path.relative_to(copy)
            except ValueError:
                named = exc.path
            raise ArtifactError(named, exc.reason) from exc
        if check is not None:
            check(searcher)
        self.snapshots.record_good(source, copy)
        return searcher, copy

    def load_initial(self, default: Path, desired: ReloadRequest | None = None) -> None:
        """Load the newest of the launch's latest reload and the replicas' `desired` state (else `default`);
        failing that, the last known good index."""
        recorded = self.reload_file.read() if self.reload_file is not None else None
        if desired is not None and (recorded is None or recorded.generation < desired.generation):
            recorded = desired
        if self.reload_file is not None:
            self._seen_stamp = self.reload_file.stamp()
        source, copy = (recorded.index_dir, recorded.snapshot) if recorded else (default, None)
        self.target = recorded.generation if recorded else 0
        try:
            self.current, _ = self._load(source, copy)
            self.source, self.error, self.generation = source, None, self.target
            log.info("serving index %s (%d phrases)", source, self.current.num_phrases)
        except Exception as exc:  # never a crash loop: the reason is served by /readyz and query routes
            reason = str(exc) if isinstance(exc, ArtifactError) else f"{type(exc).__name__}: {exc}"
            INDEX_LOAD_FAILURES.inc()
            self.current, self.error, self.load_error = None, reason, reason
            self._retry_at = time.monotonic() + self._backoff
            log.error("index not loaded: %s", reason)
            self._serve_last_good(reason)
        self._swapped()

    def _serve_last_good(self, reason: str) -> None:
        good = self.snapshots.last_good() if self.snapshots is not None else None
        if good is None:
            return
        source, copy = good
        try:
            self.current = self._named(load_checked(copy))
        except Exception as exc:
            log.error("last known good index %s not loaded either: %s", copy, exc)
            return
        self.source, self.error = source, None
        self.generation = -1 if self.target else 0  # behind any recorded generation: retried
        self.fallback = f"serving the last index that loaded ({source}) because: {reason}"
        log.warning("%s", self.fallback)

    def _named(self, searcher: PhraseSearcher) -> PhraseSearcher:
        MODEL_NAMES[searcher] = self.name
        return searcher

    def _swapped(self) -> None:
        settle_heap()
        if self.on_swap is not None:
            self.on_swap(self.current)
        self._report()

    def reload(
        self,
        path: Path,
        assign: Callable[[], int] | None = None,
        check: Callable[[PhraseSearcher], None] | None = None,
    ) -> PhraseSearcher:
        """Load `path` and swap it in (raises ArtifactError and keeps the old index on failure).

        `check(searcher)`, when given, runs on the loaded index before anything else; what it raises stops the
        swap (the gated reload checks that the index is the one it evaluated, app/gate.py). `assign`, called
        once the index has loaded and before the swap, records it as the replicas' desired state and returns
        its generation (app/replicas.py); if it raises, nothing changes here either."""
        with self._lock:
            searcher, copy = self._load(path, check=check)
            assigned = assign() if assign is not None else None
            if self.reload_file is not None:
                self.generation = self.reload_file.publish(path, copy if self.snapshots else None, assigned)
                self._seen_stamp = self.reload_file.stamp()
            else:
                self.generation = assigned if assigned is not None else max(self.generation, self.target) + 1
            self.target = self.generation
            self.current, self.source, self.error, self.load_error, self.fallback = (
                searcher,
                path,
                None,
                None,
                None,
            )
            if self.snapshots is not None:
                self.snapshots.prune(copy)
        self._swapped()
        log.info("reloaded index %s (%d phrases), generation %d", path, searcher.num_phrases, self.generation)
        return searcher

    def follow(self, desired: ReloadRequest | None = None) -> bool:
        """Apply a reload published by another worker, or the replicas' `desired` state (app/replicas.py),
        or retry one that failed; True when swapped."""
        if desired is None:
            if self.reload_file is None:
                return False
            stamp = self.reload_file.stamp()
            if stamp == self._seen_stamp and self.target <= self.generation:
                return False
        with self._lock:
            if desired is None and self.reload_file is not None:
                self._seen_stamp = stamp
                recorded = self.reload_file.read()
            else:
                recorded = desired
            if recorded is None or recorded.generation <= self.generation:
                return False
            if recorded.generation != self.target:
                self.target, self._retry_at, self._backoff = recorded.generation, 0.0, RETRY_MIN_S
            if time.monotonic() < self._retry_at:
                return False
            try:
                searcher, _ = self._load(recorded.index_dir, recorded.snapshot)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, ArtifactError) else f"{type(exc).__name__}: {exc}"
                self.load_error = (
                    f"generation {recorded.generation} not loaded in worker {os.getpid()} "
                    f"(retry in {self._backoff:g} s): {reason}"
                )
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(2 * self._backoff, RETRY_MAX_S)
                INDEX_LOAD_FAILURES.inc()
                log.error("%s", self.load_error)
                self._report()
                return False
            self.current, self.source, self.error = searcher, recorded.index_dir, None
            self.generation, self.load_error, self.fallback = recorded.generation, None, None
            self._backoff = RETRY_MIN_S
        self._swapped()
        log.info("followed reload to %s, generation %d", recorded.index_dir, recorded.generation)
        return True

    def workers(self) -> list[WorkerStatus]:
        """Every live worker's status (only this one's without a launch board)."""
        return self.board.live() if self.board is not None else [self.status()]

    async def wait_for_workers(self, expected: int, timeout: float) -> tuple[bool, list[WorkerStatus]]:
        """Wait until `expected` live workers serve this worker's generation; (all did, their statuses)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.workers()
            done = [w for w in seen if w.generation >= self.generation]
            if len(done) >= expected or time.monotonic() >= deadline:
                return len(done) >= expected, seen
            await asyncio.sleep(0.05)

    async def watch(self, interval: float) -> None:
        """Poll the reload file forever (a lifespan task); loading runs in a thread."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.follow)
            except Exception:
                log.exception("reload watcher failed; retrying")
