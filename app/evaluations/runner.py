"""Executes queued evaluation runs, each in its own low-priority process, supervised by its worker.

The database is the queue: every worker has a runner thread that, every MMWE_EVAL_POLL_SECONDS (or at once
when this worker queued a run), fails runs nobody keeps alive (`store.fail_expired`) and claims the oldest
queued run (`store.claim_next`: exactly once across workers and replicas; at most MMWE_EVAL_MAX_RUNNING at
once). Nothing is written to the artifact volume, which may be mounted read-only.

The claimed run executes in `python -m app.evaluations.worker RUN_ID --parent-pid PID`, which evaluates the
run's embeddings artifact and stores the results. While it runs, the runner thread records a heartbeat in the
database every MMWE_EVAL_HEARTBEAT_S; it kills the process past MMWE_EVAL_TIMEOUT_S (the run fails "timed
out"), and if the process dies without finishing the run, fails the run with its exit status. The process
asks the kernel to kill it when this worker dies (PR_SET_PDEATHSIG), so a killed worker never leaves an
evaluation running beside the next one; its heartbeat stops, and after MMWE_EVAL_HEARTBEAT_GRACE_S any worker
fails the run. A run that cannot start (the process cannot be spawned) fails with the reason. Running
evaluation out of process, SCHED_IDLE and niced (MMWE_EVAL_NICE), keeps the GIL and the CPU for queries.

Scheduling priority does not cover time spent in the kernel on the evaluation's behalf: faulting in a
transparent huge page (zeroing 2 MB, perhaps compacting memory first) cannot be preempted on a kernel built
without preemption, and on a VM each fault can also stall the virtual CPU at the host. numpy asks for huge
pages on every large array, so the process runs with them off (`NUMPY_MADVISE_HUGEPAGE=0`, set by the
worker with one compute thread per library, app/evaluations/worker.py): measured
with a 1 GB allocate-and-free loop at SCHED_IDLE beside the service at 1,500 req/s, query p99 was 15 ms with
them off and 40-190 ms with them on (6 ms with nothing beside it); see docs/api.md "Load test".
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.evaluations import store

log = logging.getLogger("mmwe.app")
ROOT = Path(__file__).resolve().parents[2]
STOPPED = "interrupted: the service stopped during the run"
STDERR_TAIL = 2000  # characters of a failed evaluation process's stderr kept in the run's error


@dataclass(frozen=True)
class RunnerConfig:
    database_url: str
    owner: str  # "<launch id>:<pid>": who claimed a run
    nice: int
    poll_s: float
    timeout_s: float
    heartbeat_s: float
    grace_s: float
    max_running: int
    cpus: str | None = None  # MMWE_EVAL_CPUS: the evaluation process's CPU affinity (a Linux CPU list)


class EvaluationRunner:
    def __init__(self, factory: sessionmaker[Session], config: RunnerConfig) -> None:
        self.factory = factory
        self.config = config
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._loop, name="mmwe-evaluations", daemon=True)
        self._thread.start()

    def submit(self, run_id: int) -> None:
        """A run was queued here: look at the queue now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking runs, end the one in progress, and fail what this worker still owns."""
        self._stopping.set()
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        self._thread.join(timeout)
        try:
            with self.factory() as session:
                store.fail_owned(
                    session, self.config.owner, "interrupted: the service stopped during the run"
                )
        except Exception as exc:
            log.warning("could not mark interrupted evaluation runs failed: %s", exc)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with self.factory() as session:
                    expired = store.fail_expired(session, self.config.grace_s, self.config.timeout_s)
                    if expired:
                        log.warning("evaluation runs %s failed: no heartbeat from their worker", expired)
                    run_id = store.claim_next(session, self.config.owner, self.config.max_running)
            except Exception as exc:  # the database is down: queries go on, evaluations wait
                log.warning("evaluation queue not read (database problem): %s", str(exc).splitlines()[0])
                run_id = None
            if run_id is not None:
                self._execute(run_id)
                continue  # perhaps more queued
            self._wake.wait(self.config.poll_s)
            self._wake.clear()

    def _finish_failed(self, run_id: int, reason: str) -> None:
        try:
            with self.factory() as session:
                store.finish_failed(session, run_id, reason)
        except Exception as exc:  # then its heartbeat stops and another worker fails it after the grace
            log.error("evaluation run %d: could not record failure (%s): %s", run_id, exc, reason)

    def _execute(self, run_id: int) -> None:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.config.database_url,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            }
        )
        cmd = [
            sys.executable,
            "-m",
            "app.evaluations.worker",
            str(run_id),
            "--nice",
            str(self.config.nice),
            "--parent-pid",
            str(os.getpid()),
            *(["--cpus", self.config.cpus] if self.config.cpus else []),
        ]
        log.info("evaluation run %d: starting %s", run_id, " ".join(cmd))
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing to drain while supervising
            try:
                proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
            except OSError as exc:
                self._finish_failed(run_id, f"evaluation process could not start: {exc}")
                return
            self._proc = proc
            outcome = self._supervise(run_id, proc)
            self._proc = None
            code = proc.returncode
            if outcome is None and code != 0:
                err.seek(0)
                tail = err.read().decode("utf-8", "replace").strip()[-STDERR_TAIL:]
                outcome = f"evaluation process exited with status {code}: {tail}"
        if outcome is not None:
            self._finish_failed(run_id, outcome)
        log.info("evaluation run %d: process exited with status %s", run_id, code)

    def _supervise(self, run_id: int, proc: subprocess.Popen[bytes]) -> str | None:
        """Wait for the process, beating the heartbeat; kill it on timeout, on stop, or when the run was
        finished elsewhere. Returns the reason to fail the run with, or None."""
        deadline = time.monotonic() + self.config.timeout_s
        while True:
            try:
                proc.wait(min(self.config.heartbeat_s, max(0.0, deadline - time.monotonic())))
                return None
            except subprocess.TimeoutExpired:
                pass
            if self._stopping.is_set():
                self._kill(proc)
                return STOPPED
            if time.monotonic() >= deadline:
                self._kill(proc)
                return f"timed out: still running after MMWE_EVAL_TIMEOUT_S={self.config.timeout_s:g} s"
            try:
                with self.factory() as session:
                    alive = store.heartbeat(session, run_id, self.config.owner)
            except Exception as exc:  # keep running: the run fails by heartbeat only if this lasts
                log.warning("evaluation run %d: heartbeat not recorded: %s", run_id, str(exc).splitlines()[0])
                continue
            if not alive:  # failed by another worker (e.g. after a database outage longer than the grace)
                self._kill(proc)
                return None

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
