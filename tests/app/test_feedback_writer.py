"""app/feedback/writer.py: concurrent feedback records are stored together (group commit), each request gets
its own id once stored, and a database failure fails its whole batch (nothing half-stored)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db.access import Database
from app.db.models import Feedback
from app.errors import ServiceUnavailable
from app.feedback import store
from app.feedback.writer import FeedbackWriter


def record(i: int) -> dict[str, object]:
    shown = [f"phrase {i}", f"other {i}"]
    return {
        "query": f"query {i}",
        "shown": shown,
        "clicked": shown[:1],
        "served_by": "default",
        "index_name": "index",
        "index_generation": 1,
        "client": f"s{i % 3}",
        "assignment": None,
    }


def test_concurrent_records_share_transactions_and_keep_their_ids(migrated_database_url: str) -> None:
    database = Database(migrated_database_url, 5.0, 2)
    writer = FeedbackWriter(database, max_batch=16)

    async def post_all() -> list[int]:
        return await asyncio.gather(*(writer.add(record(i)) for i in range(100)))

    try:
        ids = asyncio.run(post_all())
        assert len(set(ids)) == 100
        assert 7 <= writer.batches < 100  # batched, and no batch over 16 records
        with database.engine.connect() as conn:
            rows = conn.execute(sa.select(Feedback.id, Feedback.query, Feedback.clicked)).all()
        stored = {row.id: (row.query, row.clicked) for row in rows}
        assert stored == {new_id: (f"query {i}", [f"phrase {i}"]) for i, new_id in enumerate(ids)}
    finally:
        database.close()


def test_a_failed_flush_fails_every_request_of_its_batch(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'missing' / 'gone.db'}", 2.0, 1)
    writer = FeedbackWriter(database)

    async def post_all() -> list[int | BaseException]:
        return await asyncio.gather(*(writer.add(record(i)) for i in range(5)), return_exceptions=True)

    try:
        results = asyncio.run(post_all())
        assert all(isinstance(r, ServiceUnavailable) for r in results), results
        assert writer.batches == 0
    finally:
        database.close()


def test_a_lone_record_is_stored_at_once(migrated_database_url: str) -> None:
    database = Database(migrated_database_url, 5.0, 1)
    writer = FeedbackWriter(database)
    try:
        new_id = asyncio.run(writer.add(record(1)))
        assert writer.batches == 1
        with database.engine.connect() as conn:
            query = conn.execute(sa.select(Feedback.query).where(Feedback.id == new_id)).scalar_one()
        assert query == "query 1"
    finally:
        database.close()


TRICKY = [
    "it's",
    'say "hi"',
    "back\\slash",
    "100%s",
    "naïve café",
    "日本語",
    "emoji 🐕",
    '{"a": 1}',
    "tab\there",
]


@pytest.mark.postgres
def test_the_postgres_statement_stores_what_the_generic_insert_stores(migrated_postgres_url: str) -> None:
    """store.insert_postgres (one fixed statement over a JSON array) against SQLAlchemy's multi-row INSERT:
    every column of `feedback_values` the same, texts that need escaping included, ids in record order."""
    records = [
        {**record(i), "query": text, "shown": [text, f"other {i}"], "clicked": [text]}
        for i, text in enumerate(TRICKY)
    ]
    records[1].update(served_by=None, index_name=None, index_generation=None, client=None, assignment="b")
    database = Database(migrated_postgres_url, 5.0, 1)
    try:
        fast = database.call_core(partial(store.insert_postgres, rows=records))
        generic = database.call_core(partial(store.insert_generic, rows=records))
        assert fast == sorted(fast) and len(fast) == len(records)
        columns = [getattr(Feedback, name) for name in records[0]]
        with database.engine.connect() as conn:
            stored = {row[0]: row[1:] for row in conn.execute(sa.select(Feedback.id, *columns))}
            times = {row[0]: row[1] for row in conn.execute(sa.select(Feedback.id, Feedback.created_at))}
        assert [stored[i] for i in fast] == [stored[i] for i in generic]
        assert [stored[i] for i in fast] == [tuple(r.values()) for r in records]
        assert all(times[i].tzinfo is not None for i in fast)
    finally:
        database.close()


def test_the_linger_gathers_records_that_arrive_apart(migrated_database_url: str) -> None:
    """Records 5 ms apart: one transaction with a 200 ms linger; without it the first goes alone."""
    database = Database(migrated_database_url, 5.0, 1)

    async def staggered(writer: FeedbackWriter) -> list[int]:
        async def one(i: int) -> int:
            await asyncio.sleep(0.005 * i)
            return await writer.add(record(i))

        return await asyncio.gather(*(one(i) for i in range(5)))

    try:
        lingering = FeedbackWriter(database, linger_s=0.2)
        ids = asyncio.run(staggered(lingering))
        assert lingering.batches == 1 and len(set(ids)) == 5
        eager = FeedbackWriter(database)
        asyncio.run(staggered(eager))
        assert eager.batches > 1
    finally:
        database.close()
