"""The service's feedback table as a click log: `python -m evaluation build-triplets clicks --database URL`.

    from evaluation.feedback_db import read_feedback
    log = read_feedback("postgresql+psycopg://...", since=datetime(2026, 12, 1, tzinfo=UTC))
    triplets, stats = triplets_from_clicks(log, ClickConfig(seed=0))

Each feedback record (`POST /v1/feedback`: a query, the phrases shown, the ones clicked) counts one impression
of every shown phrase for its query and one click of every clicked phrase: exactly what the service's export
(`GET /v1/admin/feedback/export`, one `query<TAB>phrase<TAB>clicks<TAB>impressions` line per shown phrase)
gives when read back with `read_clicks`, so the file and the database build the same benchmark.

SQLAlchemy Core on a minimal description of the table (the service's migrations own the schema; this module
never imports the service). Rows are read in id order, `chunk` at a time (keyset pagination), so neither
side holds the whole table and each statement stays short. SQLAlchemy (the `serve` extra) is imported here,
only when the database is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from evaluation.builder import ClickLog
from index.text import normalize_phrase

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

CHUNK = 1000


@dataclass(frozen=True)
class FeedbackRow:
    query: str
    shown: list[str]
    clicked: list[str]


def feedback_table() -> Table:
    """The columns of the service's `feedback` table that a click log needs (migration 0004)."""
    import sqlalchemy as sa

    return sa.Table(
        "feedback",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("query", sa.Text),
        sa.Column("shown", sa.JSON),
        sa.Column("clicked", sa.JSON),
    )


def feedback_rows(
    conn: Connection, since: datetime | None = None, until: datetime | None = None, chunk: int = CHUNK
) -> Iterator[FeedbackRow]:
    """Feedback records created in [since, until), in id order, read `chunk` rows per statement."""
    import sqlalchemy as sa

    table = feedback_table()
    since, until = as_utc(since), as_utc(until)  # SQLite stores UTC text: compare in UTC
    last = 0
    while True:
        stmt = sa.select(table.c.id, table.c.query, table.c.shown, table.c.clicked).where(table.c.id > last)
        if since is not None:
            stmt = stmt.where(table.c.created_at >= since)
        if until is not None:
            stmt = stmt.where(table.c.created_at < until)
        rows = conn.execute(stmt.order_by(table.c.id).limit(chunk)).all()
        for row_id, query, shown, clicked in rows:
            last = row_id
            yield FeedbackRow(str(query), [str(p) for p in shown or []], [str(p) for p in clicked or []])
        if len(rows) < chunk:
            return


def as_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC (a naive value is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time (`2026-12-01`, `2026-12-01T05:00:00Z`, with an offset or naive = UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from exc
    result = as_utc(value)
    assert result is not None
    return result


def click_lines(row: FeedbackRow) -> Iterator[tuple[str, str, int, int]]:
    """(query, phrase, clicks, impressions) per shown phrase of one record, normalised; nothing for a record
    whose query has no word. A clicked phrase is counted once, however often it was sent."""
    query = normalize_phrase(row.query)
    if not query:
        return
    clicked = {normalize_phrase(p) for p in row.clicked}
    seen: set[str] = set()
    for text in row.shown:
        phrase = normalize_phrase(text)
        if phrase and phrase not in seen:
            seen.add(phrase)
            yield query, phrase, int(phrase in clicked), 1


def click_log(rows: Iterator[FeedbackRow]) -> tuple[ClickLog, int]:
    """The aggregated click log of feedback records, and how many records there were."""
    log = ClickLog()
    records = 0
    for row in rows:
        records += 1
        for query, phrase, clicks, impressions in click_lines(row):
            log.add(query, phrase, clicks, impressions)
    return log, records


def read_feedback(
    database_url: str, since: datetime | None = None, until: datetime | None = None
) -> tuple[ClickLog, int]:
    """The click log of the feedback in a database (created in [since, until)), and the number of records.

    ValueError, with the database's first line, when the database cannot be read."""
    try:
        import sqlalchemy as sa
    except ImportError as exc:
        raise ValueError("reading the database needs SQLAlchemy: pip install 'mmwe[serve]'") from exc
    try:
        engine = sa.create_engine(database_url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ValueError(f"not a usable database URL: {exc}") from exc
    try:
        with engine.connect() as conn:
            return click_log(feedback_rows(conn, since, until))
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot read feedback from the database: {first}") from exc
    finally:
        engine.dispose()
