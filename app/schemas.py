"""Typed request/response bodies (pydantic v2). Every route returns one of these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.db.models import EvaluationResult, RunStatus
from app.related_query import DEFAULT_K, MAX_K_PARAM, RankingParams
from app.schemas_replicas import ReplicaOut
from evaluation.evaluators import KINDS, benchmark_spec_json_schema


def _valid_unicode(text: str) -> str:
    """Reject lone surrogates (possible in JSON `\\ud800` escapes), which cannot be encoded in a response,
    and NUL characters (`\\u0000`), which PostgreSQL cannot store in a text column: a feedback record with
    one would fail the whole batch it is committed with (app/feedback/writer.py)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text is not valid Unicode (lone surrogate)") from exc
    if "\x00" in text:
        raise ValueError("text contains a NUL character")
    return text


Text = Annotated[str, AfterValidator(_valid_unicode)]


class Hit(BaseModel):
    phrase: str = Field(description="A related phrase from the index (normalised).")
    score: float = Field(description="Cosine similarity to the query phrase, in [-1, 1].")
    count: int = Field(description="How often the phrase occurred in the corpus it was mined from.")


class ServedBy(BaseModel):
    model_config = ConfigDict(frozen=True)  # one instance per loaded index, shared by its responses

    model: str = Field(description="The served model's name (MMWE_INDEXES; `default` when unset).")
    model_kind: str = Field(description="Which model produced the embeddings (word2vec, text, a, ...).")
    embeddings_sha256: str | None = Field(description="Checksum of the embeddings manifest.")
    index: str = Field(description="Index directory name.")
    factory: str = Field(description="FAISS factory string of the index.")


class RelatedResponse(BaseModel):
    query: str = Field(description="The query as sent.")
    normalized: str = Field(description="The query after normalisation (lowercase, alphanumeric words).")
    results: list[Hit]
    oov: list[str] = Field(description="Query words the model does not know (ignored for the query vector).")
    served_by: ServedBy
    assignment: str | None = Field(
        default=None,
        description="The A/B split's arm (MMWE_AB_SPLIT) when it chose the model; null when the request "
        "named `model` or no split is configured. Send it with POST /v1/feedback.",
    )


class BatchRequest(RankingParams):
    model_config = ConfigDict(extra="forbid")

    queries: list[Text] = Field(
        min_length=1, max_length=10_000, description="Query phrases (at most MMWE_MAX_BATCH, default 1,000)."
    )
    k: int = Field(
        default=DEFAULT_K, ge=1, le=MAX_K_PARAM, description="Related phrases per query (at most MMWE_MAX_K)."
    )
    exact: bool = Field(
        default=False, description="Search exhaustively instead of through the approximate index."
    )


class ErrorInfo(BaseModel):
    code: str
    message: str


class BatchItem(BaseModel):
    query: str = Field(description="The query as sent.")
    normalized: str | None = Field(default=None, description="The normalised query (absent when it failed).")
    results: list[Hit] = Field(default_factory=list)
    oov: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = Field(
        default=None, description="Why this query has no answer (e.g. only unknown words)."
    )


class BatchResponse(BaseModel):
    results: list[BatchItem] = Field(description="One item per query, in request order.")
    served_by: ServedBy


class CompareModel(BaseModel):
    model: str = Field(description="The model's name.")
    normalized: str | None = Field(default=None, description="The normalised query (absent when it failed).")
    results: list[Hit] = Field(default_factory=list)
    oov: list[str] = Field(default_factory=list)
    served_by: ServedBy
    error: ErrorInfo | None = Field(default=None, description="Why this model has no answer.")


class PairOverlap(BaseModel):
    a: str
    b: str
    shared: int = Field(description="Phrases both models returned.")
    jaccard: float = Field(description="|A and B| / |A or B| of the two phrase sets (1 when both are empty).")


class Overlap(BaseModel):
    shared: list[str] = Field(description="Phrases every answering model returned (sorted).")
    jaccard: float = Field(description="Shared phrases / all phrases returned, over the answering models.")
    pairs: list[PairOverlap] = Field(description="The overlap of each pair of answering models.")


class CompareResponse(BaseModel):
    query: str
    k: int
    models: list[CompareModel] = Field(description="One per model, in the order asked.")
    overlap: Overlap


class EmbeddedPhrase(BaseModel):
    text: str = Field(description="The phrase as sent.")
    normalized: str
    tokens: list[str]
    known: list[str] = Field(description="Words used for the phrase vector.")
    oov: list[str] = Field(description="Words the model does not know (skipped).")


class SimilarityResponse(BaseModel):
    a: EmbeddedPhrase
    b: EmbeddedPhrase
    cosine: float = Field(description="Cosine similarity of the two phrase vectors, in [-1, 1].")
    served_by: ServedBy


class VectorResponse(EmbeddedPhrase):
    dim: int
    vector: list[float] = Field(
        description="The L2-normalised phrase vector (mean of its known word vectors)."
    )
    served_by: ServedBy


class Health(BaseModel):
    status: str = "ok"


class Check(BaseModel):
    ok: bool
    detail: str | None = Field(default=None, description="What is wrong, when not ok.")


class Readiness(BaseModel):
    ready: bool
    index: Check = Field(description="The default model's index.")
    database: Check
    models: dict[str, Check] = Field(
        default_factory=dict, description="Each served model's index (MMWE_INDEXES); all must be ok."
    )


class ServedModelOut(BaseModel):
    name: str
    default: bool = Field(description="Answers requests that name no model (outside the A/B split).")
    ab_weight: int | None = Field(description="Its weight in MMWE_AB_SPLIT (null: not in the split).")
    index: str | None = Field(
        description="Index directory served: absolute with the admin token, else its name."
    )
    model_kind: str | None
    num_phrases: int | None
    generation: int
    problem: str | None = Field(description="What is wrong with what this model serves (null: nothing).")


class ModelInfo(BaseModel):
    model_kind: str
    dim: int
    vocab_size: int
    corpus: dict[str, Any]
    metrics: dict[str, Any]
    seed: int | None
    created_at: str | None
    manifest_sha256: str | None


class IndexInfo(BaseModel):
    path: str = Field(description="Index directory: absolute with the admin token, else its name.")
    factory: str
    metric: str | None
    num_phrases: int
    dim: int
    memory_bytes: int
    memory: dict[str, Any] = Field(
        description="Bytes per part; `mapped` parts are memory-mapped files, shared by the worker processes."
    )
    build_seconds: float | None
    search_params: dict[str, Any]
    recall: dict[str, Any] | None
    phrase_sources: dict[str, Any]
    created_at: str | None
    generation: int = Field(
        description="Reload generation of this worker (0 = the index loaded at start-up)."
    )


class BenchmarkResultOut(BaseModel):
    """One benchmark's result, as `evaluation` computed it (the CLI prints the same numbers)."""

    benchmark: str
    kind: str = Field(description="triplets, similarity or analogy.")
    path: str | None = Field(default=None, description="The benchmark file evaluated.")
    dataset_sha256: str | None = Field(description="Its sha256.")
    primary_metric: str | None = Field(
        default=None, description="The headline metric's name (accuracy, spearman)."
    )
    metrics: dict[str, Any] = Field(description="Metric values (null when undefined).")
    counts: dict[str, Any] = Field(default_factory=dict, description="Items evaluated, skipped as OOV, ...")
    options: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    seconds: float | None = None
    baseline: dict[str, Any] | None = Field(
        default=None,
        description="The same benchmark on the artifact the served embeddings were trained from "
        "(`training.init.path`, e.g. word2vec for the demo's Model A): model_kind, path, metrics, counts.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if isinstance(data, EvaluationResult):
            stored = dict(data.metrics)
            return {
                **stored,
                "benchmark": data.benchmark,
                "kind": data.kind,
                "dataset_sha256": data.dataset_sha256,
            }
        return data


class EvaluationRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: RunStatus
    suite: str | None
    request: dict[str, Any]
    requested_by: str | None
    artifact_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    results: list[BenchmarkResultOut]

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """SQLite returns naive datetimes (stored as UTC); answer with an explicit UTC offset everywhere."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class EvaluationPage(BaseModel):
    items: list[EvaluationRunOut]
    total: int
    limit: int
    offset: int


class InfoResponse(BaseModel):
    model: ModelInfo
    index: IndexInfo
    latest_evaluation: EvaluationRunOut | None = Field(
        description="The latest evaluation run of the served embeddings (null: none, or database down)."
    )
    database: Check
    worker_pid: int | None = Field(
        description="Process id of the worker that answered (several with MMWE_WORKERS); admin token only."
    )
    models: list[ServedModelOut] = Field(
        default_factory=list, description="Every served model (MMWE_INDEXES); `model`/`index` describe one."
    )


class BenchmarkSpecIn(BaseModel):
    """One benchmark. Its schema's kinds and per-kind options (types, defaults, bounds) are generated from the
    evaluator registry (`evaluation/evaluators.py`), which also checks them when a run is requested."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=benchmark_spec_json_schema())

    name: Text = Field(min_length=1, max_length=128)
    kind: Text = Field(
        min_length=1, max_length=32, description=f"Benchmark kind, one of: {', '.join(KINDS)}."
    )
    path: Text = Field(
        min_length=1,
        max_length=4096,
        description="Dataset file on the server, under MMWE_DATA_DIR or MMWE_BENCHMARK_DIRS (relative: "
        "under MMWE_DATA_DIR), or `gensim:NAME` for a file of gensim's test data.",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Options of the kind (see oneOf).")


class EvaluationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: Text | None = Field(
        default=None,
        max_length=128,
        description="A built-in suite ('default' also runs the newest click benchmark) or a click "
        "benchmark's name (GET /v1/benchmarks).",
    )
    benchmarks: list[BenchmarkSpecIn] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> EvaluationRequest:
        if (self.suite is None) == (self.benchmarks is None):
            raise ValueError("give exactly one of 'suite' or 'benchmarks'")
        return self


class EvaluationAccepted(BaseModel):
    id: int
    status: RunStatus


class GateSpec(BaseModel):
    """How a candidate index must score against the serving one to be swapped in (app/gate.py)."""

    model_config = ConfigDict(extra="forbid")

    suite: Text | None = Field(
        default=None,
        max_length=128,
        description="A built-in suite or a click benchmark name (default: 'default' unless benchmarks).",
    )
    benchmarks: list[BenchmarkSpecIn] | None = Field(default=None, min_length=1, max_length=100)
    metric: Text = Field(
        default="primary",
        min_length=1,
        max_length=64,
        description="The metric compared per benchmark: `primary` (each benchmark's headline number: "
        "accuracy, spearman) or a metric name.",
    )
    max_drop: float = Field(
        default=0.0,
        ge=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="Largest allowed drop (serving minus candidate) of the metric on any benchmark.",
    )

    @model_validator(mode="after")
    def _suite_or_benchmarks(self) -> GateSpec:
        if self.suite is not None and self.benchmarks is not None:
            raise ValueError("give at most one of 'suite' or 'benchmarks'")
        if self.suite is None and self.benchmarks is None:
            self.suite = "default"
        return self

    def evaluation(self) -> EvaluationRequest:
        return EvaluationRequest(suite=self.suite, benchmarks=self.benchmarks)


class ReloadRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_dir: Text = Field(
        min_length=1,
        max_length=4096,
        description="Index directory on the server (relative: under MMWE_DATA_DIR).",
    )
    model: Text | None = Field(
        default=None, max_length=64, description="The served model to reload (default: the default model)."
    )
    gate: GateSpec | None = Field(
        default=None,
        description="Swap only if the candidate scores no worse than the serving index (evaluated first; "
        "202 with a gated reload to poll, or with `wait` the decision).",
    )
    wait: bool = Field(
        default=False,
        description="With `gate`: answer the decision (200 swapped, 409 refused) instead of 202, waiting up "
        "to MMWE_GATE_WAIT_S.",
    )


class GateRow(BaseModel):
    benchmark: str
    metric: str | None = Field(description="The metric compared (the benchmark's primary one by default).")
    serving: float | None = Field(description="The serving index's value (null: undefined).")
    candidate: float | None = Field(description="The candidate's value (null: undefined).")
    drop: float | None = Field(description="serving - candidate (null when either is undefined).")
    passed: bool


class GatedReloadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str = Field(description="evaluating -> swapped | refused | failed.")
    model: str
    index_dir: str = Field(description="The candidate index directory.")
    serving_dir: str | None = Field(description="The index that served when the gate started.")
    gate: dict[str, Any]
    serving_run_id: int | None = Field(
        description="Evaluation run of the serving index (GET /v1/evaluations)."
    )
    candidate_run_id: int | None = Field(description="Evaluation run of the candidate.")
    comparison: list[GateRow] | None = Field(description="Side by side, per benchmark, once both finished.")
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    status_url: str = Field(default="", description="Where to poll this gated reload.")

    @field_validator("created_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class WorkerOut(BaseModel):
    """One worker's index, as its status file says (app/launch.py)."""

    pid: int
    generation: int = Field(description="Reload generation this worker has loaded and serves.")
    target: int = Field(description="The launch's latest generation as this worker last saw it.")
    error: str | None = Field(description="Why the worker does not serve `target` (it retries), else null.")


class ReloadResponse(BaseModel):
    index: IndexInfo
    previous: str | None = Field(description="The index directory served before.")
    workers: list[WorkerOut] = Field(description="Every live worker, each serving the new generation.")
    # replicas (issue 19, app/replicas.py): the reload is desired state in the database
    complete: bool = Field(
        default=True, description="Every live replica serves the new generation (else 202, they converge)."
    )
    replicas: list[ReplicaOut] = Field(default_factory=list, description="Every replica process, reported.")
    status_url: str | None = Field(default=None, description="Where to follow the replicas when incomplete.")
