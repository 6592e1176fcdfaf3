"""One evaluator per benchmark kind, and the registry of kinds (as sentence-transformers' evaluators).

An evaluator holds everything about its kind: the `kind` name, the `primary_metric` (the headline number),
the typed `Options` dataclass with the bounds of every option, `read(path, options)` (the benchmark file ->
a data set of `datasets.py`) and `__call__(encoder, data, options)` (-> metrics, counts, details).

    from evaluation.evaluators import EVALUATORS, evaluator_for
    ev = evaluator_for("triplets")
    options = ev.options({"bootstrap": 200}, name="mine", path="my.tsv")
    metrics, counts, details = ev(PhraseEncoder(emb), ev.read(Path("my.tsv"), options), options)

Adding a kind = one class here, registered in `EVALUATORS`: the suites, the CLI and the API's request schema
(`benchmark_spec_json_schema`) pick it up.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from evaluation.analogy import evaluate_analogy
from evaluation.datasets import AnalogySet, PairSet, TripletSet
from evaluation.errors import BenchmarkError
from evaluation.options import option, options_json_schema, parse_options
from evaluation.phrases import PhraseEncoder
from evaluation.readers import read_analogies, read_pairs_csv, read_pairs_tsv, read_triplets
from evaluation.similarity import evaluate_similarity
from evaluation.triplets import evaluate_triplets

MAX_BOOTSTRAP = 100_000  # resamples of a bootstrap interval (O(resamples) each, see stats.py)
MAX_SEED = 2**32 - 1
MAX_RESTRICT_VOCAB = 10_000_000
MAX_COLUMN_NAME = 256

Opts = TypeVar("Opts")
D = TypeVar("D", TripletSet, PairSet, AnalogySet)
Evaluation = tuple[dict[str, float | None], dict[str, int], dict[str, Any]]  # metrics, counts, details


def _bootstrap() -> Any:
    return option(1000, ge=0, le=MAX_BOOTSTRAP, help="bootstrap resamples of the 95% interval (0: none)")


def _seed() -> Any:
    return option(0, ge=0, le=MAX_SEED, help="seed of the bootstrap")


class Evaluator(ABC, Generic[Opts, D]):
    """One benchmark kind. A subclass names its kind, primary metric and options dataclass in its class line
    (`class X(Evaluator[XOptions, XSet], kind="x", primary_metric="accuracy", options=XOptions)`) and
    implements read and __call__."""

    kind: ClassVar[str]
    primary_metric: ClassVar[str]
    Options: ClassVar[type[Any]]

    def __init_subclass__(cls, *, kind: str, primary_metric: str, options: type[Any], **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind, cls.primary_metric, cls.Options = kind, primary_metric, options

    def options(self, raw: Mapping[str, Any] | Opts, *, name: str, path: str | Path) -> Opts:
        """The checked, complete options of benchmark `name` (file `path`) from the given ones."""
        parsed: Opts = parse_options(self.Options, raw, where=f"benchmark {name!r}", kind=self.kind)
        return parsed

    def reader_options(self, options: Opts) -> dict[str, Any]:
        """The options that change how the file is parsed (the parsed-file cache keys on them)."""
        return {}

    @abstractmethod
    def read(self, path: Path, options: Opts) -> D: ...

    @abstractmethod
    def __call__(self, encoder: PhraseEncoder, data: D, options: Opts, *, threads: int = 2) -> Evaluation: ...


@dataclass(frozen=True)
class TripletOptions:
    oov_policy: str = option(
        "skip", choices=("skip", "wrong"), help="a triplet with an OOV phrase is left out or counted wrong"
    )
    bootstrap: int = _bootstrap()
    seed: int = _seed()


class TripletEvaluator(
    Evaluator[TripletOptions, TripletSet], kind="triplets", primary_metric="accuracy", options=TripletOptions
):
    """The paper's metric: cos(base, positive) > cos(base, negative) (`triplets.py`)."""

    def read(self, path: Path, options: TripletOptions) -> TripletSet:
        return read_triplets(path)

    def __call__(
        self, encoder: PhraseEncoder, data: TripletSet, options: TripletOptions, *, threads: int = 2
    ) -> Evaluation:
        metrics, counts = evaluate_triplets(
            encoder,
            data,
            oov_policy=options.oov_policy,
            bootstrap=options.bootstrap,
            seed=options.seed,
            threads=threads,
        )
        return metrics, counts, {}


@dataclass(frozen=True)
class SimilarityOptions:
    format: str | None = option(
        None, choices=("tsv", "csv"), help="file format; null: csv when the file name ends in .csv, else tsv"
    )
    oov_policy: str = option(
        "drop", choices=("drop", "zero"), help="a pair with an OOV term is left out or scored 0"
    )
    delimiter: str | None = option(
        None, max_length=8, help="field delimiter; null: tab for tsv, comma for csv (one character)"
    )
    word1: str = option("word1", max_length=MAX_COLUMN_NAME, help="CSV column of the first term")
    word2: str = option("word2", max_length=MAX_COLUMN_NAME, help="CSV column of the second term")
    score: str = option("score", max_length=MAX_COLUMN_NAME, help="CSV column of the human score")


class SimilarityEvaluator(
    Evaluator[SimilarityOptions, PairSet],
    kind="similarity",
    primary_metric="spearman",
    options=SimilarityOptions,
):
    """Graded similarity: Spearman's (and Pearson's) correlation with human scores (`similarity.py`)."""

    def options(
        self, raw: Mapping[str, Any] | SimilarityOptions, *, name: str, path: str | Path
    ) -> SimilarityOptions:
        parsed = super().options(raw, name=name, path=path)
        fmt = parsed.format or ("csv" if str(path).lower().endswith(".csv") else "tsv")
        delimiter = parsed.delimiter or ("," if fmt == "csv" else "\t")
        if fmt == "csv" and len(delimiter) != 1:
            raise BenchmarkError(f"benchmark {name!r}: a csv delimiter is one character, got {delimiter!r}")
        return dataclasses.replace(parsed, format=fmt, delimiter=delimiter)

    def reader_options(self, options: SimilarityOptions) -> dict[str, Any]:
        keys = ("format", "delimiter", "word1", "word2", "score")
        return {k: v for k, v in dataclasses.asdict(options).items() if k in keys}

    def read(self, path: Path, options: SimilarityOptions) -> PairSet:
        delimiter = options.delimiter or ("," if options.format == "csv" else "\t")
        if options.format == "csv":
            return read_pairs_csv(
                path, word1=options.word1, word2=options.word2, score=options.score, delimiter=delimiter
            )
        return read_pairs_tsv(path, delimiter=delimiter)

    def __call__(
        self, encoder: PhraseEncoder, data: PairSet, options: SimilarityOptions, *, threads: int = 2
    ) -> Evaluation:
        metrics, counts = evaluate_similarity(encoder, data, oov_policy=options.oov_policy)
        return metrics, counts, {}


@dataclass(frozen=True)
class AnalogyOptions:
    oov_policy: str = option(
        "skip", choices=("skip", "wrong"), help="a question with an OOV word is left out or counted wrong"
    )
    restrict_vocab: int = option(
        30000, ge=1, le=MAX_RESTRICT_VOCAB, help="answers and questions among this many most frequent words"
    )
    bootstrap: int = _bootstrap()
    seed: int = _seed()


class AnalogyEvaluator(
    Evaluator[AnalogyOptions, AnalogySet], kind="analogy", primary_metric="accuracy", options=AnalogyOptions
):
    """Word analogies by 3CosAdd, as gensim's `evaluate_word_analogies` (`analogy.py`)."""

    def read(self, path: Path, options: AnalogyOptions) -> AnalogySet:
        return read_analogies(path)

    def __call__(
        self, encoder: PhraseEncoder, data: AnalogySet, options: AnalogyOptions, *, threads: int = 2
    ) -> Evaluation:  # threads: the analogy search is one matrix product per block, numpy's own threads
        return evaluate_analogy(
            encoder.embeddings,
            data,
            restrict_vocab=options.restrict_vocab,
            oov_policy=options.oov_policy,
            bootstrap=options.bootstrap,
            seed=options.seed,
        )


EVALUATORS: dict[str, Evaluator[Any, Any]] = {
    ev.kind: ev for ev in (TripletEvaluator(), SimilarityEvaluator(), AnalogyEvaluator())
}
KINDS = tuple(EVALUATORS)


def evaluator_for(kind: str, *, name: str | None = None) -> Evaluator[Any, Any]:
    """The evaluator of `kind`; BenchmarkError (naming benchmark `name` if given) for an unknown kind."""
    try:
        return EVALUATORS[kind]
    except (KeyError, TypeError):
        where = f"benchmark {name!r}: " if name is not None else ""
        raise BenchmarkError(f"{where}unknown kind {kind!r} (expected one of {KINDS})") from None


def benchmark_spec_json_schema() -> dict[str, Any]:
    """JSON schema of one benchmark spec `{"name", "kind", "path", "options"}`: one alternative per kind, its
    options typed and bounded as the kind's `Options` (the service's request schema is built from this)."""
    variants = [
        {
            "type": "object",
            "title": f"{kind} benchmark",
            "properties": {"kind": {"const": kind}, "options": options_json_schema(ev.Options)},
            "required": ["kind"],
        }
        for kind, ev in EVALUATORS.items()
    ]
    return {"oneOf": variants}
