"""Feedback records: inserted in batches (app/feedback/writer.py); the export reads them back in id order.

On PostgreSQL a batch is one fixed statement whose only parameters are the batch's time and its records as a
JSON array (`POSTGRES_INSERT`): the same text for every batch size, so psycopg prepares it once, and the
records go over the wire as one string serialised by `json.dumps` instead of one bound parameter per column
per record. That is about a third to a sixth of the client's CPU of SQLAlchemy's multi-row INSERT (batches of
7 to 30 records). Other databases (SQLite) take that multi-row INSERT.

The export writes the click-log format of `python -m evaluation build-triplets clicks`: a header, then one
`query<TAB>phrase<TAB>clicks<TAB>impressions` line per shown phrase of each record (clicks 1 or 0,
impressions 1; texts normalised), made by `evaluation.feedback_db.click_lines`, the same code that reads the
table for `build-triplets clicks --database`, so a file and the database give the same benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from app.db.access import Database
from app.db.models import Feedback, utcnow
from app.schemas_feedback import FeedbackRequest
from evaluation.feedback_db import FeedbackRow, as_utc, click_lines

Rows = Sequence[tuple[int, str, list[str], list[str]]]  # (id, query, shown, clicked)
EXPORT_HEADER = "query\tphrase\tclicks\timpressions\n"
EXPORT_CHUNK = 1000


def feedback_values(
    body: FeedbackRequest, index_name: str | None, index_generation: int | None
) -> dict[str, Any]:
    """The columns of one feedback record (the time is the database row's default)."""
    return {
        "query": body.query,
        "shown": list(body.shown),
        "clicked": list(body.clicked),
        "served_by": body.model,
        "index_name": index_name,
        "index_generation": index_generation,
        "client": body.session,
        "assignment": body.assignment,
    }


# Rows are numbered in the order of the array and inserted in that order, so the serial ids grow with it
# (the ordering SQLAlchemy's own "insertmanyvalues" relies on for PostgreSQL): sorted ids are the records'.
POSTGRES_INSERT = """\
INSERT INTO feedback (created_at, query, shown, clicked, served_by, index_name, index_generation, client,
                      assignment)
SELECT %s, r->>'query', r->'shown', r->'clicked', r->>'served_by', r->>'index_name',
       (r->>'index_generation')::integer, r->>'client', r->>'assignment'
FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n)
ORDER BY n
RETURNING id"""


def add_feedback_rows(connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Store records (the columns of `feedback_values`) in one INSERT ... RETURNING id; their ids in the
    order of `rows`."""
    if connection.dialect.name == "postgresql":
        return insert_postgres(connection, rows)
    return insert_generic(connection, rows)


def insert_postgres(connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
    result = connection.exec_driver_sql(POSTGRES_INSERT, (utcnow(), json.dumps(rows)))
    return sorted(int(new_id) for new_id in result.scalars())


def insert_generic(connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
    stmt = insert(Feedback).returning(Feedback.id, sort_by_parameter_order=True)
    return [int(new_id) for new_id in connection.execute(stmt, rows).scalars()]


def feedback_chunk(
    session: Session, after: int, since: datetime | None, until: datetime | None, limit: int = EXPORT_CHUNK
) -> Rows:
    """Up to `limit` records with id > `after` created in [since, until): (id, query, shown, clicked)."""
    stmt = select(Feedback.id, Feedback.query, Feedback.shown, Feedback.clicked).where(Feedback.id > after)
    since, until = as_utc(since), as_utc(until)
    if since is not None:
        stmt = stmt.where(Feedback.created_at >= since)
    if until is not None:
        stmt = stmt.where(Feedback.created_at < until)
    rows = session.execute(stmt.order_by(Feedback.id).limit(limit)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def export_text(rows: Rows) -> str:
    """The click-log lines of some records."""
    return "".join(
        f"{query}\t{phrase}\t{clicks}\t{impressions}\n"
        for _, text, shown, clicked in rows
        for query, phrase, clicks, impressions in click_lines(FeedbackRow(text, shown, clicked))
    )


def export_stream(
    database: Database, first: Rows, since: datetime | None, until: datetime | None
) -> Iterator[str]:
    """The header and the lines of `first` (fetched before the response starts, so a database failure is
    still a 503), then each further chunk's, one short query per chunk (run by Starlette in its thread pool).
    A failure after the first chunk ends the stream early (the status line is already sent)."""
    yield EXPORT_HEADER
    rows = first
    while True:
        if rows:
            yield export_text(rows)
        if len(rows) < EXPORT_CHUNK:
            return
        rows = database.call(partial(feedback_chunk, after=rows[-1][0], since=since, until=until))
