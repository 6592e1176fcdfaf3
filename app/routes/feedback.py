"""`POST /v1/feedback` (what a user was shown for a query and clicked; open, or MMWE_FEEDBACK_TOKEN) and
`GET /v1/admin/feedback/export` (admin: the feedback as a click log for `build-triplets clicks`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app.deps import AdminDep, DatabaseDep
from app.errors import Unprocessable
from app.feedback import store
from app.feedback.writer import FeedbackWriter
from app.registry import ModelRegistry
from app.routes.evaluations import ADMIN_ERRORS
from app.schemas_feedback import FeedbackAccepted, FeedbackRequest
from evaluation.feedback_db import as_utc

router = APIRouter(tags=["feedback"])


@router.post(
    "/v1/feedback",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FeedbackAccepted,
    summary="Record what a user was shown and clicked",
    responses={
        401: {"description": "MMWE_FEEDBACK_TOKEN is set and not given (checked before the body is read)."},
        422: {"description": "Bad body: empty query, a clicked phrase not shown, too many or long items."},
        503: {"description": "The database is unavailable."},
    },
)
async def post_feedback(request: Request, body: FeedbackRequest) -> FeedbackAccepted:
    """One record per impression: `shown` (at most 100 phrases of at most 256 characters), `clicked` (a
    subset of `shown`, possibly empty), the `model` name that served them (default "default") and an opaque
    `session` id. The service adds the time and the index serving now; it stores no address. Click
    benchmarks (`POST /v1/admin/benchmarks`) are built from these records."""
    return FeedbackAccepted(id=await record_feedback(request.app.state, body))


async def record_feedback(state: State, body: FeedbackRequest) -> int:
    """Store one validated record with the index now serving its model; its id once committed (the
    route's work, also done by app/feedback/fast_path.py)."""
    models: ModelRegistry = state.models
    holder = models.holders.get(body.model)  # a model no longer served: stored without its index
    source = holder.source if holder is not None else None
    index_name = source.name if source is not None else None
    generation = holder.generation if holder is not None and source is not None else None
    writer: FeedbackWriter = state.feedback_writer  # group commit (app/feedback/writer.py)
    return await writer.add(store.feedback_values(body, index_name, generation))


@router.get(
    "/v1/admin/feedback/export",
    summary="Download the feedback as a click log (for build-triplets clicks)",
    response_class=StreamingResponse,
    responses={
        **ADMIN_ERRORS,
        200: {
            "description": "`query<TAB>phrase<TAB>clicks<TAB>impressions` lines with a header, streamed.",
            "content": {"text/tab-separated-values": {}},
        },
        422: {"description": "`since` is not before `until`, or not a time."},
        503: {"description": "The database is unavailable."},
    },
)
async def export_feedback(
    _admin: AdminDep,
    db: DatabaseDep,
    since: Annotated[datetime | None, Query(description="Records created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Records created before (ISO 8601).")] = None,
) -> StreamingResponse:
    """One line per shown phrase of each record (clicks 1 or 0, impressions 1; texts normalised), read
    1,000 records at a time: `python -m evaluation build-triplets clicks export.tsv -o triplets.tsv` reads it
    (repeated pairs are summed) and builds what `--database` builds from the same window."""
    low, high = as_utc(since), as_utc(until)
    if low is not None and high is not None and low >= high:
        raise Unprocessable("'since' must be before 'until'", detail={"since": str(low), "until": str(high)})

    def first(session: Session) -> store.Rows:
        return store.feedback_chunk(session, 0, since, until)

    rows = await db.run(first)
    return StreamingResponse(
        store.export_stream(db, rows, since, until),
        media_type="text/tab-separated-values; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="feedback-clicks.tsv"'},
    )
