"""Files the workers of one launch share beside the reload record: index snapshots, the last known good index,
and each worker's status.

Snapshots: a worker never serves (memory-maps) an artifact directory that someone may change in place. Each
loaded index is copied once to `<snapshot dir>/<name>-<manifest sha256>/<name>/` (temporary directory, then
rename) and loaded from there with every checksum verified; a copy that fails verification is deleted.
Truncating or rewriting the original index then never reaches a running worker (a truncated memory-mapped
file would kill it with SIGBUS), and a worker restarted meanwhile loads the verified copy.

Last known good: after every successful load, `last_good.json` records the snapshot; a worker that cannot load
the index it should serve at start-up serves that one instead (and says so in `/readyz`).

Worker status: `workers/<pid>.json` says which generation each worker has loaded, or why it has not; the
admin reload waits on them, and dead workers' files are ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from index.artifacts import MANIFEST, sha256_file
from index.errors import ArtifactError


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.last_good_file = root / "last_good.json"

    def snapshot(self, source: Path) -> Path:
        """The private copy of index directory `source` (made now unless it exists); ArtifactError if the
        source cannot be read. The copy is not verified here: load it with checksums on."""
        try:
            key = sha256_file(source / MANIFEST)[:32]
        except ValueError as exc:  # a NUL in the path
            raise ArtifactError(source, f"invalid path: {exc}") from exc
        except OSError as exc:
            if not source.is_dir():
                raise ArtifactError(source, "not a directory (missing artifact)") from exc
            raise ArtifactError(source / MANIFEST, f"missing or unreadable manifest: {exc}") from exc
        name = source.resolve().name or "index"  # kept: the served index is still called by its name
        final = self.root / f"{name}-{key}" / name  # the same files under two names are two copies
        if final.is_dir():
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            shutil.copytree(source, tmp / name, symlinks=False)
            os.rename(tmp, final.parent)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.is_dir():  # another worker made the same copy first
                return final
            raise ArtifactError(source, f"cannot copy the index to serve it: {exc}") from exc
        return final

    def discard(self, snapshot: Path) -> None:
        """Delete a copy that failed verification (workers that map its files keep them until they swap)."""
        if snapshot.parent.parent == self.root:
            shutil.rmtree(snapshot.parent, ignore_errors=True)

    def prune(self, keep: Path) -> None:
        """Delete copies other than `keep` (mapped files stay valid for workers still serving them)."""
        with contextlib.suppress(OSError):
            for entry in self.root.iterdir():
                if entry.is_dir() and not entry.name.startswith(".") and entry != keep.parent:
                    shutil.rmtree(entry, ignore_errors=True)

    def record_good(self, source: Path, snapshot: Path) -> None:
        write_json(self.last_good_file, {"source": str(source), "snapshot": str(snapshot)})

    def last_good(self) -> tuple[Path, Path] | None:
        data = read_json(self.last_good_file)
        if data is None or not isinstance(data.get("snapshot"), str):
            return None
        return Path(str(data.get("source"))), Path(data["snapshot"])


@dataclass(frozen=True)
class WorkerStatus:
    pid: int
    generation: int  # the generation this worker has loaded and serves
    target: int  # the launch's latest generation as this worker last saw it
    error: str | None  # why `target` is not loaded (retrying), else None

    @property
    def current(self) -> bool:
        return self.generation >= self.target


class WorkerBoard:
    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, status: WorkerStatus) -> None:
        with contextlib.suppress(OSError):
            write_json(self.root / f"{status.pid}.json", asdict(status))

    def live(self) -> list[WorkerStatus]:
        """Statuses of the workers alive now (dead workers' files are removed)."""
        found = []
        with contextlib.suppress(OSError):
            for path in sorted(self.root.glob("*.json")):
                data = read_json(path)
                try:
                    status = WorkerStatus(**data) if data is not None else None
                except TypeError:
                    status = None
                if status is None or not pid_alive(status.pid):
                    with contextlib.suppress(OSError):
                        path.unlink()
                    continue
                found.append(status)
        return found
