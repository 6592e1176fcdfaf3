"""Build triplet benchmarks (`base<TAB>positive<TAB>negative`) from click logs or graded pairs.

From a click log (`query<TAB>phrase<TAB>clicks[<TAB>impressions]`, the paper's procedure for RP10M):
  1. clicks (and impressions: how often the phrase was shown for the query; default its clicks) are summed
     per (query, phrase), both normalised with `index.text.normalize_phrase`;
  2. per query, phrases with at least `min_clicks` clicks and `min_impressions` impressions (other than the
     query itself) are ranked by clicks, ties by phrase text; the top `top_k` become positives;
  3. a positive sharing a stemmed word (Snowball English stemmer) with the query is dropped;
  4. for each (query, positive), `negatives` negatives are drawn uniformly from the phrase pool (every phrase
     of the log, sorted, or a pool file), redrawing until the candidate shares no stemmed word with the query
     or the positive (at most `max_tries` draws; otherwise the pair is counted in `no_negative` and skipped).
  Queries are processed in sorted order with one numpy Generator(seed): same log + seed -> same file.
  Shown-but-not-clicked phrases (lines with 0 clicks, as the service's feedback export writes them) are never
  positives (with `min_clicks` >= 1) but join the phrase pool.
From graded pairs (`PairSet`): for each base term, every partner scored >= `high` is a positive and every
partner scored <= `low` a negative; each positive is paired with each negative. Pairs count both ways unless
`symmetric=False`.

CLI: `python -m evaluation build-triplets clicks|pairs --help`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import snowballstemmer

from evaluation.datasets import TRIPLET_HEADER, PairSet
from evaluation.errors import BenchmarkFormatError, token
from evaluation.readers import decode_lines, read_bytes
from index.artifacts import atomic_write
from index.text import normalize_phrase

Triplet = tuple[str, str, str]


class Stemmer:
    """Stemmed word sets of phrases, cached (Snowball, pure Python, no data download)."""

    def __init__(self, language: str = "english") -> None:
        self._stemmer = snowballstemmer.stemmer(language)
        self._cache: dict[str, frozenset[str]] = {}

    def stems(self, phrase: str) -> frozenset[str]:
        got = self._cache.get(phrase)
        if got is None:
            got = frozenset(self._stemmer.stemWords(phrase.split()))
            self._cache[phrase] = got
        return got

    def share(self, a: str, b: str) -> bool:
        return not self.stems(a).isdisjoint(self.stems(b))


CLICK_HEADERS = (["query", "phrase", "clicks"], ["query", "phrase", "clicks", "impressions"])


@dataclass
class ClickLog:
    """Aggregated click log: {query: {phrase: clicks}} and {query: {phrase: impressions}} (normalised)."""

    clicks: dict[str, dict[str, int]] = field(default_factory=dict)
    impressions: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, query: str, phrase: str, clicks: int, impressions: int | None = None) -> bool:
        """Count one line (normalising both texts); False when either has no word. Impressions default to
        the clicks (a 3-column log records clicked phrases only)."""
        query, phrase = normalize_phrase(query), normalize_phrase(phrase)
        if not query or not phrase:
            return False
        by_phrase = self.clicks.setdefault(query, {})
        by_phrase[phrase] = by_phrase.get(phrase, 0) + clicks
        shown = self.impressions.setdefault(query, {})
        shown[phrase] = shown.get(phrase, 0) + max(clicks, impressions if impressions is not None else clicks)
        return True


def read_click_log(path: Path | str) -> dict[str, dict[str, int]]:
    """{query: {phrase: total clicks}} of a click log (`read_clicks`)."""
    return read_clicks(path).clicks


def read_clicks(path: Path | str) -> ClickLog:
    """The aggregated `query<TAB>phrase<TAB>clicks[<TAB>impressions]` lines of a file (optional header
    `query<TAB>phrase<TAB>clicks[<TAB>impressions]`; blank and `#` lines skipped). Errors name the file and
    line."""
    path = Path(path)
    data, _ = read_bytes(path)
    log = ClickLog()
    first = True
    for lineno, line in enumerate(decode_lines(path, data), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if first:
            first = False
            if [f.strip().lower() for f in fields] in CLICK_HEADERS:
                continue
        if len(fields) not in (3, 4):
            raise BenchmarkFormatError(
                path,
                f"expected 'query<TAB>phrase<TAB>clicks[<TAB>impressions]', found {len(fields)} fields",
                lineno,
            )
        clicks = _count(path, lineno, "clicks", fields[2])
        impressions = _count(path, lineno, "impressions", fields[3]) if len(fields) == 4 else None
        if not log.add(fields[0], fields[1], clicks, impressions):
            raise BenchmarkFormatError(path, "query and phrase need at least one word each", lineno)
    return log


def _count(path: Path, lineno: int, name: str, text: str) -> int:
    try:
        count = int(text.strip())
    except ValueError as exc:
        raise BenchmarkFormatError(path, f"{name} {token(text)} is not an integer", lineno) from exc
    if count < 0:
        raise BenchmarkFormatError(path, f"{name} {count} is negative", lineno)
    return count


def read_phrase_pool(path: Path | str) -> list[str]:
    """One phrase per line (normalised, deduplicated, file order; blank and `#` lines skipped)."""
    path = Path(path)
    data, _ = read_bytes(path)
    pool: dict[str, None] = {}
    for line in decode_lines(path, data):
        if line.strip() and not line.startswith("#"):
            phrase = normalize_phrase(line)
            if phrase:
                pool[phrase] = None
    return list(pool)


@dataclass(frozen=True)
class ClickConfig:
    top_k: int = 3
    min_clicks: int = 1
    min_impressions: int = 0
    negatives: int = 1
    max_tries: int = 100
    seed: int = 0
    language: str = "english"


@dataclass
class BuildStats:
    queries: int = 0
    queries_with_positives: int = 0
    positives: int = 0
    dropped_shared_stem: int = 0
    no_negative: int = 0
    pool_size: int = 0
    triplets: int = 0
    config: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def positives_for(
    query: str,
    phrase_clicks: dict[str, int],
    config: ClickConfig,
    stemmer: Stemmer,
    shown: dict[str, int] | None = None,
) -> tuple[list[str], int]:
    """(positives, number dropped for sharing a stem with the query), steps 2-3 of the module docstring.

    `shown`: the phrases' impressions for the query (default: their clicks)."""
    shown = shown or phrase_clicks
    ranked = sorted(
        (
            p
            for p, c in phrase_clicks.items()
            if c >= config.min_clicks and shown.get(p, c) >= config.min_impressions and p != query
        ),
        key=lambda p: (-phrase_clicks[p], p),
    )[: config.top_k]
    kept = [p for p in ranked if not stemmer.share(p, query)]
    return kept, len(ranked) - len(kept)


def triplets_from_clicks(
    clicks: dict[str, dict[str, int]] | ClickLog,
    config: ClickConfig,
    pool: Sequence[str] | None = None,
) -> tuple[list[Triplet], BuildStats]:
    """Triplets from aggregated clicks (module docstring); `pool` defaults to every phrase of the log.

    A `ClickLog` also carries impressions (for `config.min_impressions`); a plain dict counts each click as
    an impression."""
    impressions = clicks.impressions if isinstance(clicks, ClickLog) else {}
    clicks = clicks.clicks if isinstance(clicks, ClickLog) else clicks
    if config.top_k < 1 or config.negatives < 1 or config.max_tries < 1:
        raise ValueError("top_k, negatives and max_tries must be at least 1")
    stemmer = Stemmer(config.language)
    phrases = (
        list(pool) if pool is not None else sorted({p for by_phrase in clicks.values() for p in by_phrase})
    )
    rng = np.random.default_rng(config.seed)
    stats = BuildStats(queries=len(clicks), pool_size=len(phrases), config=asdict(config))
    out: list[Triplet] = []
    for query in sorted(clicks):
        positives, dropped = positives_for(query, clicks[query], config, stemmer, impressions.get(query))
        stats.dropped_shared_stem += dropped
        stats.positives += len(positives)
        stats.queries_with_positives += bool(positives)
        for positive in positives:
            chosen: list[str] = []
            for _ in range(config.negatives):
                negative = _draw_negative(query, positive, phrases, chosen, rng, stemmer, config.max_tries)
                if negative is None:
                    stats.no_negative += 1
                    break
                chosen.append(negative)
                out.append((query, positive, negative))
    stats.triplets = len(out)
    return out, stats


def _draw_negative(
    query: str,
    positive: str,
    pool: Sequence[str],
    taken: list[str],
    rng: np.random.Generator,
    stemmer: Stemmer,
    max_tries: int,
) -> str | None:
    if not pool:
        return None
    for _ in range(max_tries):
        candidate = pool[int(rng.integers(len(pool)))]
        if candidate in taken or stemmer.share(candidate, query) or stemmer.share(candidate, positive):
            continue
        return candidate
    return None


def triplets_from_pairs(
    pairs: PairSet, *, high: float, low: float, symmetric: bool = True
) -> tuple[list[Triplet], BuildStats]:
    """For each base term: positives are partners scored >= high, negatives partners scored <= low."""
    if not high > low:
        raise ValueError(f"the positive threshold (high={high}) must be above the negative one (low={low})")
    partners: dict[str, list[tuple[str, float]]] = defaultdict(list)
    directed: Iterable[tuple[str, str, float]] = zip(
        pairs.first, pairs.second, pairs.scores.tolist(), strict=True
    )
    for a, b, score in directed:
        a, b = normalize_phrase(a), normalize_phrase(b)
        if a == b:
            continue
        partners[a].append((b, score))
        if symmetric:
            partners[b].append((a, score))
    out: list[Triplet] = []
    stats = BuildStats(config={"high": high, "low": low, "symmetric": symmetric})
    for base, scored in partners.items():
        positives = list(dict.fromkeys(p for p, s in scored if s >= high))
        negatives = list(dict.fromkeys(p for p, s in scored if s <= low))
        stats.queries += 1
        stats.positives += len(positives)
        if positives and negatives:
            stats.queries_with_positives += 1
            out.extend((base, p, n) for p in positives for n in negatives)
    stats.triplets = len(out)
    return out, stats


def write_triplets(path: Path | str, triplets: Iterable[Triplet]) -> None:
    """Write a triplet file with its header, atomically (temporary sibling file, then rename)."""
    with atomic_write(Path(path), "w") as f:
        f.write("\t".join(TRIPLET_HEADER) + "\n")
        for row in triplets:
            f.write("\t".join(row) + "\n")
