"""Group commit for `POST /v1/feedback`: the records of concurrent requests are inserted together.

    writer = FeedbackWriter(database, linger_s=0.01)  # one per process (the app's lifespan)
    new_id = await writer.add(values)   # returns once the record is stored (its transaction committed)

A request queues its record and waits; one flush runs at a time: it waits `linger_s` (MMWE_FEEDBACK_LINGER_MS)
for more records, then takes every record queued so far (at most MAX_BATCH) in one transaction, one INSERT
... RETURNING id (app/feedback/store.py; ids in the order of the records). So a service pays one pooled
connection's checkout, round trip and commit per batch instead of per request. Without the linger a record
that arrives while no flush runs goes alone, and at a steady 250 records/s per worker (500/s on 2 workers)
nearly every batch was a single record, each costing about 0.5 ms of the worker's CPU; with it a batch holds
about rate x linger records (bench/feedback_bench.py; docs/api.md "Feedback under load"). The cost is the
linger added to each feedback answer. A failed flush fails every request of its batch with the same error
(503 for a database error), and nothing of that batch is stored.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from app.db.access import Database
from app.feedback import store

MAX_BATCH = 500  # records per transaction


class FeedbackWriter:
    def __init__(self, database: Database, max_batch: int = MAX_BATCH, linger_s: float = 0.0) -> None:
        self.database = database
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # flushes done (for tests and metrics)

    async def add(self, values: dict[str, Any]) -> int:
        """Store one feedback record (the columns of `store.feedback_values`); its id once committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((values, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            if self.linger_s > 0 and len(self._pending) < self.max_batch:
                await asyncio.sleep(self.linger_s)  # records of concurrent requests join this batch
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            rows = [values for values, _ in batch]
            try:
                ids = await self.database.run_core(partial(store.add_feedback_rows, rows=rows))
            except BaseException as exc:  # the database's error (or a cancelled flush) fails the whole batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.batches += 1
            for (_, future), new_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(new_id)
