"""Evaluation-gated reloads: `POST /v1/admin/reload {"index_dir", "model"?, "gate": {...}}`.

The candidate index is loaded off to the side once (a broken one is refused at once, 422), then the serving
index and the candidate are evaluated on the same suite as two ordinary evaluation runs (the evaluation
queue and its niced child process, app/evaluations/: queries are unaffected), linked to the gated reload by
`request.gate` and by the `gated_reloads` row. When both finished, `compare` puts the chosen metric side by
side per benchmark; the candidate is swapped in (`IndexHolder.reload`, so every worker follows) only if no
benchmark's metric drops by more than `max_drop`. Otherwise the gated reload is `refused`, and an evaluation
that failed, a candidate or serving index that changed meanwhile, or a load that fails make it `failed`:
in every case but `swapped` the old index keeps serving.

The worker that accepted the request decides (an asyncio task); if it stops first, the gated reload fails
("interrupted"). One gated reload per model is in progress at a time (409 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.access import Database
from app.db.models import EvaluationRun, GatedReload, GateStatus, RunStatus, utcnow
from app.deps import current_searcher
from app.errors import Conflict, NotFound, Unprocessable
from app.evaluations import store
from app.evaluations.runner import EvaluationRunner
from app.metrics import INDEX_RELOADS
from app.registry import ModelRegistry
from app.replicas import ReplicaSync
from app.schemas import GatedReloadOut, GateRow
from app.serving import IndexHolder, load_checked
from app.settings import Settings
from index.artifacts import MANIFEST, sha256_file
from index.errors import ArtifactError
from index.search import PhraseSearcher

log = logging.getLogger("mmwe.app")
POLL_S = 0.2  # how often the deciding worker looks at the two evaluation runs
TOLERANCE = 1e-9  # float noise allowed on top of max_drop
STOPPED = "interrupted: the service stopped before the gate was decided; the old index keeps serving"


def metric_value(payload: dict[str, Any], metric: str) -> tuple[str | None, float | None]:
    """(metric name, value) of one stored benchmark result (`EvaluationResult.metrics`)."""
    name = payload.get("primary_metric") if metric == "primary" else metric
    metrics = payload.get("metrics") or {}
    value = metrics.get(name) if isinstance(name, str) else None
    if not isinstance(value, int | float) or not math.isfinite(value):
        value = None
    return (name if isinstance(name, str) else None), (float(value) if value is not None else None)


def compare(
    serving: dict[str, dict[str, Any]], candidate: dict[str, dict[str, Any]], metric: str, max_drop: float
) -> list[GateRow]:
    """Per benchmark (by name, the serving run's order): the metric of both and the drop.

    A benchmark passes when its drop is at most `max_drop`; when the serving index has no value (e.g. no
    covered item), whatever the candidate has passes; when only the candidate has none, it fails."""
    rows = []
    for name, payload in serving.items():
        metric_name, before = metric_value(payload, metric)
        other = candidate.get(name)
        after = metric_value(other, metric)[1] if other is not None else None
        drop = before - after if before is not None and after is not None else None
        if before is None:
            passed = True
        elif after is None:
            passed = False
        else:
            passed = drop is not None and drop <= max_drop + TOLERANCE
        rows.append(
            GateRow(
                benchmark=name, metric=metric_name, serving=before, candidate=after, drop=drop, passed=passed
            )
        )
    return rows


def reported(payloads: Iterable[dict[str, Any]], metric: str) -> bool:
    """Whether any benchmark result names `metric` (a typo must not pass every benchmark as undefined)."""
    for payload in payloads:
        name = payload.get("primary_metric") if metric == "primary" else metric
        if isinstance(name, str) and name in (payload.get("metrics") or {}):
            return True
    return False


def gate_out(gate: GatedReload) -> GatedReloadOut:
    out = GatedReloadOut.model_validate(gate)
    out.status_url = f"/v1/admin/reloads/{gate.id}"
    return out


def manifest_sha(searcher: PhraseSearcher) -> str:
    return sha256_file(searcher.path / MANIFEST)


class GateKeeper:
    """Starts gated reloads and decides those this worker accepted (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        runner: EvaluationRunner,
        models: ModelRegistry,
        settings: Settings,
        owner: str,
        replicas: ReplicaSync | None = None,
    ) -> None:
        self.replicas = replicas  # a swap becomes the replicas' desired state (app/replicas.py)
        self.database = database
        self.runner = runner
        self.models = models
        self.settings = settings
        self.owner = owner
        self.tasks: dict[int, asyncio.Task[None]] = {}

    async def start(
        self, model: str | None, path: Path, request: dict[str, Any], metric: str, max_drop: float
    ) -> GatedReloadOut:
        """Check the candidate, queue both evaluations of `request` (an evaluation run's request: suite or
        benchmarks) and return the gated reload (evaluating)."""
        name, holder = self.models.holder(model)
        serving = current_searcher(holder)
        serving_dir = holder.source
        try:
            candidate = await asyncio.to_thread(load_checked, path)
        except ArtifactError as exc:
            INDEX_RELOADS.labels("rejected").inc()
            raise Unprocessable(
                f"index rejected, the previous one keeps serving: {exc}", detail={"index_dir": str(path)}
            ) from exc
        index_sha = await asyncio.to_thread(manifest_sha, candidate)
        gate_request = {**request, "metric": metric, "max_drop": max_drop}

        def queue(session: Session) -> GatedReload:
            self._expire(session)
            busy = session.scalar(
                select(GatedReload.id).where(
                    GatedReload.model == name, GatedReload.status == GateStatus.evaluating
                )
            )
            if busy is not None:
                raise Conflict(
                    f"a gated reload of model {name!r} is in progress",
                    detail={"gate": busy, "status_url": f"/v1/admin/reloads/{busy}"},
                )
            gate = GatedReload(
                model=name,
                index_dir=str(path),
                serving_dir=str(serving_dir) if serving_dir is not None else None,
                gate={**gate_request, "candidate_index_sha256": index_sha},
                owner=self.owner,
            )
            session.add(gate)
            session.flush()
            runs = []
            for role, searcher in (("serving", serving), ("candidate", candidate)):
                artifact = store.register_served(session, searcher)
                run = EvaluationRun(
                    status=RunStatus.queued,
                    suite=request.get("suite"),
                    request={**request, "gate": {"id": gate.id, "role": role, "model": name}},
                    requested_by="gate",
                    artifact_id=artifact.id,
                    owner=self.owner,
                )
                session.add(run)
                session.flush()
                runs.append(run)
            gate.serving_run_id, gate.candidate_run_id = runs[0].id, runs[1].id
            session.commit()  # the gated reload and both runs, or nothing
            return gate

        gate = await self.database.run(queue)
        self.runner.submit(gate.serving_run_id or 0)
        task = asyncio.create_task(self._decide(gate.id, holder, holder.generation))
        self.tasks[gate.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(gate.id, None))
        return gate_out(gate)

    async def get(self, gate_id: int) -> GatedReloadOut:
        def one(session: Session) -> GatedReloadOut | None:
            gate = session.get(GatedReload, gate_id) if 0 < gate_id < 2**31 else None
            return gate_out(gate) if gate is not None else None

        found = await self.database.run(one)
        if found is None:
            raise NotFound(f"gated reload {gate_id} not found")
        return found

    async def wait(self, gate_id: int, timeout: float) -> GatedReloadOut:
        """The gated reload once decided (or as it is after `timeout` seconds)."""
        task = self.tasks.get(gate_id)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
        return await self.get(gate_id)

    async def stop(self) -> None:
        """Cancel the undecided gates of this worker and mark them failed (the old index keeps serving)."""
        for task in list(self.tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await self.database.run(
                lambda s: self._finish(
                    s, None, GateStatus.failed, error=STOPPED, where_owner=self.owner, commit=True
                )
            )
        except Exception as exc:
            log.warning("could not mark interrupted gated reloads failed: %s", exc)

    # --- deciding -------------------------------------------------------------------------------------------

    @staticmethod
    def _finish(
        session: Session,
        gate_id: int | None,
        status: GateStatus,
        *,
        error: str | None = None,
        comparison: list[GateRow] | None = None,
        where_owner: str | None = None,
        commit: bool = True,
    ) -> int:
        """Move evaluating gated reloads (one, or all of `where_owner`) to `status`; how many moved."""
        query = update(GatedReload).where(GatedReload.status == GateStatus.evaluating)
        query = query.where(GatedReload.id == gate_id) if gate_id is not None else query
        query = query.where(GatedReload.owner == where_owner) if where_owner is not None else query
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        if comparison is not None:
            values["comparison"] = [row.model_dump() for row in comparison]
        done = session.execute(query.values(**values))
        if commit:
            session.commit()
        return int(done.rowcount)  # type: ignore[attr-defined]

    def _expire(self, session: Session) -> None:
        """Fail gated reloads left evaluating by a worker that died: both runs end within two evaluation
        timeouts (each is killed past MMWE_EVAL_TIMEOUT_S), so one older than that is nobody's."""
        limit = 2 * self.settings.eval_timeout_s + self.settings.eval_heartbeat_grace_s + 60
        old = utcnow() - timedelta(seconds=limit)
        session.execute(
            update(GatedReload)
            .where(GatedReload.status == GateStatus.evaluating, GatedReload.created_at < old)
            .values(status=GateStatus.failed, finished_at=utcnow(), error=f"{STOPPED} (expired)")
        )

    def _runs(self, session: Session, gate_id: int) -> tuple[GatedReload, list[EvaluationRun | None]]:
        gate = session.get(GatedReload, gate_id)
        if gate is None:
            raise NotFound(f"gated reload {gate_id} not found")
        runs = [
            store.get_run(session, i) if i is not None else None
            for i in (gate.serving_run_id, gate.candidate_run_id)
        ]
        return gate, runs

    async def _fail(self, gate_id: int, why: str, rows: list[GateRow] | None = None) -> None:
        await self.database.run(
            lambda s: self._finish(s, gate_id, GateStatus.failed, error=why, comparison=rows)
        )

    async def _decide(self, gate_id: int, holder: IndexHolder, generation: int) -> None:
        try:
            await self._decide_once(gate_id, holder, generation)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leaves a gate evaluating forever while this worker lives
            log.exception("gated reload %d failed", gate_id)
            with contextlib.suppress(Exception):
                reason = f"{type(exc).__name__}: {exc}"
                await self.database.run(lambda s: self._finish(s, gate_id, GateStatus.failed, error=reason))

    async def _decide_once(self, gate_id: int, holder: IndexHolder, generation: int) -> None:
        while True:
            try:
                gate, runs = await self.database.run(lambda s: self._runs(s, gate_id))
            except Exception as exc:  # the database is down: try again (the runs wait for it too)
                log.warning("gated reload %d: runs not read: %s", gate_id, str(exc).splitlines()[0])
                await asyncio.sleep(1.0)
                continue
            if gate.status is not GateStatus.evaluating:
                return
            if any(r is None or r.status is RunStatus.failed for r in runs):
                errors = [f"run {r.id}: {r.error}" for r in runs if r is not None and r.error]
                await self._fail(gate_id, "an evaluation run failed: " + ("; ".join(errors) or "run deleted"))
                return
            if all(r is not None and r.status is RunStatus.succeeded for r in runs):
                break
            await asyncio.sleep(POLL_S)
        serving_run, candidate_run = runs
        assert serving_run is not None and candidate_run is not None
        serving = {r.benchmark: r.metrics for r in serving_run.results}
        metric = str(gate.gate.get("metric", "primary"))
        rows = compare(
            serving,
            {r.benchmark: r.metrics for r in candidate_run.results},
            metric,
            float(gate.gate.get("max_drop", 0.0)),
        )
        if not reported(serving.values(), metric):
            await self._fail(gate_id, f"no benchmark of the suite reports the metric {metric!r}", rows)
            return
        if not all(row.passed for row in rows):
            INDEX_RELOADS.labels("refused").inc()
            log.warning(
                "gated reload %d refused: %s", gate_id, [r.model_dump() for r in rows if not r.passed]
            )
            await self.database.run(lambda s: self._finish(s, gate_id, GateStatus.refused, comparison=rows))
            return
        await self._swap(gate, holder, generation, rows)

    async def _swap(
        self, gate: GatedReload, holder: IndexHolder, generation: int, rows: list[GateRow]
    ) -> None:
        gate_id = gate.id
        if holder.generation != generation:
            why = "the served index changed while the gate evaluated (another reload); not swapped"
            await self.database.run(
                lambda s: self._finish(s, gate_id, GateStatus.failed, error=why, comparison=rows)
            )
            return
        expected = gate.gate.get("candidate_index_sha256")

        def same_candidate(searcher: PhraseSearcher) -> None:
            if manifest_sha(searcher) != expected:
                raise ArtifactError(searcher.path / MANIFEST, "the candidate changed since it was evaluated")

        sync, path = self.replicas, Path(gate.index_dir)
        assign = (lambda: sync.publish(holder.name, path)) if sync is not None else None
        try:
            await asyncio.to_thread(holder.reload, path, assign, same_candidate)
        except ArtifactError as exc:
            INDEX_RELOADS.labels("rejected").inc()
            why = f"not swapped, the previous index keeps serving: {exc}"
            await self.database.run(
                lambda s: self._finish(s, gate_id, GateStatus.failed, error=why, comparison=rows)
            )
            return
        INDEX_RELOADS.labels("applied").inc()
        await self.database.run(lambda s: self._finish(s, gate_id, GateStatus.swapped, comparison=rows))
        if sync is not None:
            await asyncio.to_thread(sync.report)
        complete, workers = await holder.wait_for_workers(self.settings.workers, self.settings.reload_wait_s)
        if not complete:
            log.warning("gated reload %d: workers behind: %s", gate_id, [asdict(w) for w in workers])
        log.info("gated reload %d: swapped in %s for model %s", gate_id, gate.index_dir, holder.name)
