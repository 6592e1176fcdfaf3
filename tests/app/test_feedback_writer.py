"""app/feedback/writer.py: concurrent feedback records are stored together (group commit), each request gets
its own id once stored, and a database failure fails its whole batch (nothing half-stored)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from app.db.access import Database
from app.db.models import Feedback
from app.errors import ServiceUnavailable
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
