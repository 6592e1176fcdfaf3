"""Request and response bodies of feedback and click benchmarks (app/routes/feedback.py, benchmarks.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas import Text
from index.text import normalize_phrase

MAX_SHOWN = 100
MAX_TEXT = 256
BENCHMARK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _has_words(text: str) -> str:
    if not normalize_phrase(text):
        raise ValueError("needs at least one word")
    return text


Phrase = Annotated[Text, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_has_words)]


def _utc(value: datetime | None) -> datetime | None:
    """Naive times are UTC (SQLite also returns them naive); answer with an explicit offset."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Phrase = Field(description="The query the phrases were shown for.")
    shown: list[Phrase] = Field(
        min_length=1, max_length=MAX_SHOWN, description="The related phrases shown, in their order."
    )
    clicked: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_SHOWN,
        description="The shown phrases the user clicked (each one of `shown`); empty: none was clicked.",
    )
    model: Text = Field(
        default="default", min_length=1, max_length=128, description="The model name that served the results."
    )
    session: Text | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="An opaque client or session id (no personal data); the service never stores addresses.",
    )
    assignment: Text | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The A/B arm the results came from: `assignment` of the GET /v1/related answer (null "
        "when the request named its model or no MMWE_AB_SPLIT is set).",
    )

    @model_validator(mode="after")
    def _clicked_were_shown(self) -> FeedbackRequest:
        missing = sorted(set(self.clicked) - set(self.shown))
        if missing:
            raise ValueError(f"clicked phrases must be among the shown ones; not shown: {missing[:5]}")
        return self


class FeedbackAccepted(BaseModel):
    id: int = Field(description="The stored feedback record.")


class BenchmarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=BENCHMARK_NAME,
        description="Name (lower-case letters, digits, '-', '_'); also the suite name that runs it.",
    )
    source: Literal["feedback"] = Field(
        alias="from", description="Where the clicks come from: the feedback table (POST /v1/feedback)."
    )
    since: datetime | None = Field(default=None, description="Feedback created at or after (ISO 8601).")
    until: datetime | None = Field(default=None, description="Feedback created before (ISO 8601).")
    min_impressions: int = Field(
        default=0, ge=0, le=1_000_000, description="A phrase shown fewer times for a query is no positive."
    )
    min_clicks: int = Field(default=1, ge=1, le=1_000_000, description="Clicks a positive needs.")
    top_k: int = Field(default=3, ge=1, le=100, description="Positives per query (the paper's rule).")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the negative sampling.")

    _since_utc = field_validator("since", "until")(_utc)

    @model_validator(mode="after")
    def _window(self) -> BenchmarkRequest:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("'since' must be before 'until'")
        return self


class BenchmarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    rows: int = Field(description="Triplets in the file.")
    feedback_records: int = Field(description="Feedback records read to build it.")
    since: datetime | None
    until: datetime | None
    min_impressions: int
    seed: int
    sha256: str = Field(description="Checksum of the triplet file (an evaluation result's dataset_sha256).")
    stats: dict[str, Any] = Field(description="The builder's statistics (queries, positives, ...).")
    created_at: datetime
    path: str | None = Field(
        default=None, description="File under MMWE_DATA_DIR; shown with the admin token only."
    )

    _times_utc = field_validator("since", "until", "created_at")(_utc)


class BenchmarkList(BaseModel):
    items: list[BenchmarkOut] = Field(description="Click benchmarks, newest first.")
