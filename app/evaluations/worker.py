"""One evaluation run in its own process: `python -m app.evaluations.worker RUN_ID [--parent-pid P]`

Started by the service (app.evaluations.runner), which claimed the run. With `--parent-pid`, the process first
asks the kernel to kill it when its parent dies (Linux PR_SET_PDEATHSIG), and exits at once if the parent is
already gone, so a killed worker never leaves an evaluation running. It then lowers its own priority
(SCHED_IDLE where the OS has it, and niced), limits itself to one BLAS/OpenMP/FAISS thread without transparent
huge pages (`ISOLATION_ENV`, set before numpy and FAISS are imported, which read it when they load) and, with
`--cpus` (MMWE_EVAL_CPUS), to those CPUs; then it imports and runs the job (`job.run_job`). The order matters:
importing numpy, FAISS, SQLAlchemy and the rest takes about a second of CPU, and at normal priority that
second competed with query traffic at the start of every run (docs/api.md "Load test"). So this module imports
only the standard library, and threads started later inherit the lowered priority.
Exit status 0 when the run was finished here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ISOLATION_ENV = {  # one compute thread, whichever library asks; no huge pages (app/evaluations/runner.py)
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMPY_MADVISE_HUGEPAGE": "0",
}


def die_with_parent(parent_pid: int) -> bool:
    """SIGKILL this process when its parent dies (Linux); False when the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return os.getppid() == parent_pid  # checked after prctl: no window where the parent's death is missed


def lower_priority(nice: int) -> None:
    """Run only on CPU time that query traffic leaves idle (SCHED_IDLE where the OS has it), and niced."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not permitted in some containers: niceness still applies
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if nice:
        os.nice(nice)


def parse_cpus(text: str) -> set[int]:
    """A CPU list as Linux writes it ("0", "1,3", "0-1,4"); ValueError when malformed or empty."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if first < 0 or last < first or last > 4095:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("empty CPU list")
    return cpus


def isolate(cpus: str | None) -> None:
    """One compute thread and no huge pages for the libraries imported later; with `cpus`, only those CPUs.

    A CPU list that names no CPU this process may use leaves the affinity as it was, saying so on stderr."""
    os.environ.update(ISOLATION_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, parse_cpus(cpus))
        except (OSError, ValueError) as exc:
            print(f"MMWE_EVAL_CPUS={cpus!r} not applied: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.evaluations.worker", description=__doc__)
    parser.add_argument("run_id", type=int, help="id of a queued evaluation run")
    parser.add_argument("--nice", type=int, default=19, help="niceness increment for this process")
    parser.add_argument(
        "--parent-pid", type=int, help="die when this process (the supervising worker) dies; exit if gone"
    )
    parser.add_argument("--cpus", help="run only on these CPUs (a Linux CPU list such as 1 or 2-3)")
    args = parser.parse_args(argv)
    if args.parent_pid is not None and not die_with_parent(args.parent_pid):
        print(f"parent process {args.parent_pid} is gone; not running", file=sys.stderr)
        return 3
    lower_priority(args.nice)
    isolate(args.cpus)
    from app.evaluations.job import run_job  # only now: see the module docstring

    return run_job(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
