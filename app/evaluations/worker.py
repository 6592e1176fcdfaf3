"""One evaluation run in its own process: `python -m app.evaluations.worker RUN_ID [--parent-pid P]`

Started by the service (app.evaluations.runner), which claimed the run. With `--parent-pid`, the process
first asks the kernel to kill it when its parent dies (Linux PR_SET_PDEATHSIG), and exits at once if the
parent is already gone, so a killed worker never leaves an evaluation running. It then lowers its own
priority (SCHED_IDLE where the OS has it, and niced), then imports and runs the job (`job.run_job`). The
order matters: importing numpy, FAISS, SQLAlchemy and the rest takes about a second of CPU, and at normal
priority that second competed with query traffic at the start of every run (docs/api.md "Load test"). So
this module imports only the standard library, and threads started later inherit the lowered priority.
Exit status 0 when the run was finished here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.evaluations.worker", description=__doc__)
    parser.add_argument("run_id", type=int, help="id of a queued evaluation run")
    parser.add_argument("--nice", type=int, default=19, help="niceness increment for this process")
    parser.add_argument(
        "--parent-pid", type=int, help="die when this process (the supervising worker) dies; exit if gone"
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None and not die_with_parent(args.parent_pid):
        print(f"parent process {args.parent_pid} is gone; not running", file=sys.stderr)
        return 3
    lower_priority(args.nice)
    from app.evaluations.job import run_job  # only now: see the module docstring

    return run_job(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
