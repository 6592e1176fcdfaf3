"""Group commit for `POST /v1/feedback`: the records of concurrent requests are inserted together.

    writer = FeedbackWriter(database)          # one per process (the app's lifespan)
    new_id = await writer.add(values)          # returns once the record is stored (its transaction committed)

A request queues its record and waits; one flush runs at a time and takes every record queued so far (at most
MAX_BATCH) in one transaction, one multi-row INSERT ... RETURNING id (SQLAlchemy's insertmanyvalues, ids in
the order of the records). So an idle service stores a record at once (a batch of one) and a busy one pays
one round trip and one commit per batch instead of per request (at 500 requests/s each commit was a fsync and
a pooled connection's round trip of its own; bench/feedback_bench.py). A failed flush fails every request of
its batch with the same error (503 for a database error), and nothing of that batch is stored.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from app.db.access import Database
from app.feedback import store

MAX_BATCH = 500  # records per transaction


class FeedbackWriter:
    def __init__(self, database: Database, max_batch: int = MAX_BATCH) -> None:
        self.database = database
        self.max_batch = max_batch
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
