"""Executes queued evaluation runs, one at a time on the host, each in its own low-priority process.

Every worker has a runner thread; they take an exclusive file lock (`lock_path`) around each run, so
several workers (and launches) never evaluate at once. The process (`python -m app.evaluations.worker RUN_ID`)
marks the run running, evaluates the run's embeddings artifact, and stores the results; if it dies without
finishing the run, the runner marks the run failed with its exit status and the tail of its stderr. Running
evaluation out of process, SCHED_IDLE and niced (MMWE_EVAL_NICE), keeps the GIL and the CPU for query traffic.

Scheduling priority does not cover time spent in the kernel on the evaluation's behalf: faulting in a
transparent huge page (zeroing 2 MB, perhaps compacting memory first) cannot be preempted on a kernel built
without preemption, and on a VM each fault can also stall the virtual CPU at the host. numpy asks for huge
pages on every large array, so the process runs with them off (`NUMPY_MADVISE_HUGEPAGE=0`): measured
with a 1 GB allocate-and-free loop at SCHED_IDLE beside the service at 1,500 req/s, query p99 was 15 ms with
them off and 40-190 ms with them on (6 ms with nothing beside it); see docs/api.md "Load test".
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.evaluations import store

log = logging.getLogger("mmwe.app")
ROOT = Path(__file__).resolve().parents[2]


class EvaluationRunner:
    def __init__(
        self, factory: sessionmaker[Session], database_url: str, owner: str, nice: int, lock_path: Path
    ) -> None:
        self.factory = factory
        self.lock_path = lock_path
        self.database_url = database_url
        self.owner = owner
        self.nice = nice
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mmwe-evaluations", daemon=True)
        self._thread.start()

    def submit(self, run_id: int) -> None:
        self._queue.put(run_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking runs, end the one in progress, and fail what this worker still owns."""
        self._stopping.set()
        self._queue.put(None)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        self._thread.join(timeout)
        try:
            with self.factory() as session:
                store.fail_owned(session, self.owner, "interrupted: the service stopped during the run")
        except Exception as exc:
            log.warning("could not mark interrupted evaluation runs failed: %s", exc)

    def _loop(self) -> None:
        while (run_id := self._queue.get()) is not None:
            if self._stopping.is_set():
                break
            try:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.lock_path, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # one evaluation at a time on this host
                    if not self._stopping.is_set():
                        self._execute(run_id)
            except Exception:
                log.exception("evaluation run %d could not be executed", run_id)

    def _execute(self, run_id: int) -> None:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "NUMPY_MADVISE_HUGEPAGE": "0",  # see the module docstring
            }
        )
        cmd = [sys.executable, "-m", "app.evaluations.worker", str(run_id), "--nice", str(self.nice)]
        log.info("evaluation run %d: starting %s", run_id, " ".join(cmd))
        self._proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = self._proc.communicate()
        code = self._proc.returncode
        self._proc = None
        if code != 0:
            tail = err.decode("utf-8", "replace").strip()[-2000:]
            with self.factory() as session:
                store.finish_failed(session, run_id, f"evaluation process exited with status {code}: {tail}")
        log.info("evaluation run %d: process exited with status %d", run_id, code)
