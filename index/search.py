"""Load an `mmwe.index` artifact and answer related-phrase and similarity queries.

    from index.search import PhraseSearcher
    s = PhraseSearcher.load(Path("data/index"))
    s.related("hot dog", k=10).hits        # [Hit(phrase, score, count), ...], best first (index.ranking)
    s.similarity("dog", "puppy")[0]         # cosine of the two phrase vectors

Queries are embedded like phrases (mean of word vectors, L2-normalised) but skip OOV words, which are reported
back; a query with no known word raises QueryError. Candidates come by cosine and are ranked and filtered by a
`Ranking` (index/ranking.py: popularity prior, min_count, compounds, near-duplicates, denylist; each hit keeps
its raw cosine as `score`). The query phrase itself never appears in its hits, and a search always returns
min(k, available) hits: when an approximate index yields too few candidates (IVF lists too small, many hits
filtered), the search widens and finally falls back to exact search.

Thread safety: all state is fixed at load; per-query search parameters travel in FAISS SearchParameters
objects, so concurrent searches from many threads are safe.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.ann import (
    is_exact,
    omp_threads,
    param_name,
    parameters_for,
    search_work,
    set_default_params,
    threads_for,
)
from index.artifacts import Embeddings
from index.errors import ArtifactError, QueryError
from index.gpu import GpuSession, use_gpu
from index.index_format import read_index_files
from index.phrase_table import PhraseTable, QueryMatch
from index.phrases import mean_normalized_rows
from index.ranking import DEFAULT_RANKING, Ranking
from index.text import tokenize


@dataclass(frozen=True)
class EmbeddedQuery:
    text: str
    tokens: list[str]
    known: list[str]
    oov: list[str]
    vector: np.ndarray  # float32 [D], L2-normalised


@dataclass(frozen=True)
class Hit:
    phrase: str
    score: float
    count: int


@dataclass(frozen=True)
class Related:
    query: str
    normalized: str
    hits: list[Hit]
    oov: list[str]


class PhraseSearcher:
    """A loaded phrase index. Build one with `PhraseSearcher.load(path)`."""

    def __init__(
        self,
        *,
        path: Path,
        manifest: dict[str, Any],
        embeddings: Embeddings,
        index: Any,
        phrases: list[str],
        counts: np.ndarray,
        vectors: np.ndarray | None,
        mmapped: bool,
        index_bytes: int,
        cpu_index: Any = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.embeddings = embeddings
        self.index = index
        self.phrases = phrases
        self.counts = counts
        self.vectors = vectors  # float32 [N, D] memmap, for exact search over approximate indexes
        self.mmapped = mmapped
        self._index_bytes = index_bytes  # index.faiss's size when read (its file may be gone since)
        self.num_phrases = len(phrases)
        self.dim = embeddings.dim
        self._word_index = embeddings.word_index()
        # Plain ndarray views: indexing a np.memmap costs several microseconds of subclass overhead per query.
        self._word_vectors = embeddings.vectors.view(np.ndarray)
        self._counts = counts.view(np.ndarray)
        self._kept: dict[int, int] = {}  # min_count -> phrases with at least that count
        self._table = PhraseTable.build(phrases)  # the ranking's filters as arrays (index/phrase_table.py)
        kind = cpu_index if cpu_index is not None else index  # a GPU copy reports no type: ask the CPU index
        self._exact_self = is_exact(kind)
        self._param = param_name(kind)
        self._pretransform = isinstance(kind, faiss.IndexPreTransform)
        # Multiply-adds of one single-query search of `index` with its default parameters; None on a GPU.
        on_cpu = cpu_index is None or cpu_index is index
        self.search_work: int | None = search_work(kind) if on_cpu else None
        self._strings_bytes = sum(sys.getsizeof(p) for p in phrases) + 8 * len(phrases)
        self._words_bytes = sum(sys.getsizeof(w) for w in embeddings.words) + sys.getsizeof(self._word_index)

    @classmethod
    def load(
        cls, path: Path, *, mmap: bool = True, verify: bool = True, device: str = "cpu"
    ) -> PhraseSearcher:
        """Load and check an index directory; `verify` also checks every file's sha256 (reads each once).

        `device="gpu"` copies a Flat or IVF index to the GPU for searching (needs faiss-gpu and a GPU).
        """
        files = read_index_files(path, mmap=mmap, verify=verify)
        path, manifest, index, mmapped = files.path, files.manifest, files.index, files.mmapped
        try:
            set_default_params(index, dict(manifest.get("search_params") or {}))
        except ValueError as exc:
            raise ArtifactError(path / "manifest.json", str(exc)) from exc
        cpu_index = index
        if device != "cpu" and use_gpu(device, index):
            session = GpuSession()
            index = session.to_gpu(index)
            index.referenced_objects = [session.resources]  # keep the GPU resources alive with the index
            mmapped = False
        return cls(
            path=path,
            manifest=manifest,
            embeddings=files.embeddings,
            index=index,
            phrases=files.phrases,
            counts=files.counts,
            vectors=files.vectors,
            mmapped=mmapped,
            index_bytes=files.index_bytes,
            cpu_index=cpu_index,
        )

    # ---- memory -------------------------------------------------------------------------------------------

    def memory_report(self) -> dict[str, Any]:
        """Bytes held by each part; `mapped` parts are file-backed (paged in on use, shared by processes)."""
        emb_bytes = int(self.embeddings.vectors.nbytes) + self._words_bytes
        return {
            "index": {"bytes": self._index_bytes, "mapped": self.mmapped},
            "phrases": {"bytes": self._strings_bytes + int(self.counts.nbytes), "mapped": False},
            "ranking_table": {"bytes": self._table.nbytes, "mapped": False},
            "embeddings": {"bytes": emb_bytes, "mapped": isinstance(self.embeddings.vectors, np.memmap)},
            "exact_vectors": {
                "bytes": int(self.vectors.nbytes) if self.vectors is not None else 0,
                "mapped": True,
            },
        }

    def memory_bytes(self) -> int:
        """Total bytes of the loaded index's data (heap and memory-mapped parts together)."""
        return int(sum(part["bytes"] for part in self.memory_report().values()))

    # ---- queries ------------------------------------------------------------------------------------------

    def embed(self, text: str) -> EmbeddedQuery:
        tokens = tokenize(text)
        if not tokens:
            raise QueryError(f"query {text!r} has no words")
        ids = [self._word_index.get(t, -1) for t in tokens]
        known = [t for t, i in zip(tokens, ids, strict=True) if i >= 0]
        oov = [t for t, i in zip(tokens, ids, strict=True) if i < 0]
        if not known:
            raise QueryError(f"no word of query {text!r} is in the vocabulary (unknown: {', '.join(oov)})")
        vector = mean_normalized_rows(self._word_vectors[[i for i in ids if i >= 0]])  # float32 [D]
        if float(np.sqrt(np.dot(vector, vector))) < 0.5:
            raise QueryError(f"query {text!r} has a zero vector (its word vectors cancel out)")
        return EmbeddedQuery(text=text, tokens=tokens, known=known, oov=oov, vector=vector)

    def similarity(self, a: str, b: str) -> tuple[float, EmbeddedQuery, EmbeddedQuery]:
        qa, qb = self.embed(a), self.embed(b)
        return float(np.dot(qa.vector, qb.vector)), qa, qb

    def _search(
        self, queries: np.ndarray, fetch: int, exact: bool, params: dict[str, int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) [Q, fetch] for float32 [Q, D] queries; ids of -1 mean 'no more candidates'."""
        queries = np.ascontiguousarray(queries, np.float32)
        sp, _alive = parameters_for(
            self._param, params, self._pretransform
        )  # validates even for exact search
        with omp_threads(threads_for(len(queries))):
            if exact and not self._exact_self:
                if self.vectors is None:
                    raise QueryError("exact search is unavailable: this index keeps no phrase vectors")
                scores, ids = faiss.knn(queries, self.vectors, fetch, faiss.METRIC_INNER_PRODUCT)
            else:
                scores, ids = self.index.search(queries, fetch, params=sp)
        return scores, ids

    def _hits(
        self,
        match: QueryMatch,
        scores: np.ndarray,
        ids: np.ndarray,
        k: int,
        ranking: Ranking,
        fill: bool = False,
    ) -> list[Hit]:
        found = ids >= 0
        if not found.all():
            scores, ids = scores[found], ids[found]
        counts = self._counts[ids]
        if ranking.min_count > 0:  # in numpy: most of a widened search's candidates fail it
            kept = counts >= ranking.min_count
            if not kept.all():
                scores, ids, counts = scores[kept], ids[kept], counts[kept]
        if ranking.popularity:  # the ranking order
            order = np.argsort(-(scores + ranking.popularity * np.log1p(counts)), kind="stable")
            scores, ids, counts = scores[order], ids[order], counts[order]
        keep = self._table.select(match, ids, k, ranking, fill)
        phrases = self.phrases
        return [
            Hit(phrases[i], score, count)
            for score, i, count in zip(
                scores[keep].tolist(), ids[keep].tolist(), counts[keep].tolist(), strict=True
            )
        ]

    def _first_fetch(self, k: int, ranking: Ranking) -> int:
        """Candidates of the first search: the ranking's need, divided by the share of phrases `min_count`
        keeps (phrases are stored by count, descending), so that one search usually suffices."""
        fetch = ranking.fetch_for(k)
        if ranking.min_count > 0:
            kept = self._kept.get(ranking.min_count)
            if kept is None:  # counts are sorted descending: the phrases kept are a prefix
                kept = self._kept[ranking.min_count] = int(
                    np.count_nonzero(self._counts >= ranking.min_count)
                )
            fetch = int(fetch * self.num_phrases / max(kept, 1))
            fetch = min(fetch, ranking.widen_limit(k) or fetch)
        return min(self.num_phrases, fetch)

    def _complete(
        self,
        q: EmbeddedQuery,
        k: int,
        ranking: Ranking,
        exact: bool,
        params: dict[str, int] | None,
        fetch: int,
        scores: np.ndarray,
        ids: np.ndarray,
        search_more: bool = True,
    ) -> list[Hit] | None:
        """Hits from the first `fetch` candidates of one search row, widening (finally exact) until k hits,
        or every phrase or as many as the ranking's widening limit (`Ranking.widen_limit`, a bound on a
        filtering ranking's work) seen. `search_more=False`: None where another search would be needed."""
        limit = min(self.num_phrases, ranking.widen_limit(k) or self.num_phrases)
        match = self._table.match(q.tokens)
        while True:
            ran_out = bool((ids < 0).any())  # the search found fewer than `fetch` candidates
            # an approximate search that ran out is not final while an exact one can follow
            short = ran_out and not (exact or self._exact_self) and self.vectors is not None
            final = fetch >= limit and not short
            hits = self._hits(match, scores, ids, k, ranking, fill=final)
            if len(hits) == k or final or (fetch >= self.num_phrases and (exact or self._exact_self)):
                return hits
            if fetch >= self.num_phrases or ran_out:
                exact = exact or self.vectors is not None  # the approximate index ran out of candidates
                if not exact and not self._exact_self:
                    return hits
            if not search_more:
                return None
            fetch = min(limit, fetch * 4)
            s, i = self._search(q.vector[None, :], fetch, exact, params)
            scores, ids = s[0], i[0]

    def _check_k(self, k: int) -> None:
        if k < 1:
            raise QueryError(f"k must be >= 1, got {k}")

    def related(
        self,
        text: str,
        k: int = 10,
        *,
        ranking: Ranking = DEFAULT_RANKING,
        exact: bool = False,
        search_params: dict[str, int] | None = None,
    ) -> Related:
        """The k phrases related to `text`, best first under `ranking`, never `text` itself."""
        self._check_k(k)
        q = self.embed(text)
        fetch = self._first_fetch(k, ranking)
        scores, ids = self._search(q.vector[None, :], fetch, exact, search_params)
        hits = self._complete(q, k, ranking, exact, search_params, fetch, scores[0], ids[0])
        assert hits is not None  # search_more=True always answers
        return Related(query=text, normalized=" ".join(q.tokens), hits=hits, oov=q.oov)

    def related_first(self, text: str, k: int = 10, *, ranking: Ranking = DEFAULT_RANKING) -> Related | None:
        """`related` when one search of the index with its default parameters answers it, else None.

        Its search costs about `search_work` multiply-adds. None means the candidates of that one search left
        fewer than k hits (`related` would search again, wider, perhaps exhaustively): the caller then runs
        `related`.
        Raises QueryError as `related` does.
        """
        self._check_k(k)
        q = self.embed(text)
        fetch = self._first_fetch(k, ranking)
        scores, ids = self._search(q.vector[None, :], fetch, False, None)
        hits = self._complete(q, k, ranking, False, None, fetch, scores[0], ids[0], search_more=False)
        if hits is None:
            return None
        return Related(query=text, normalized=" ".join(q.tokens), hits=hits, oov=q.oov)

    def related_batch(
        self,
        texts: list[str],
        k: int,
        *,
        ranking: Ranking = DEFAULT_RANKING,
        exact: bool = False,
        search_params: dict[str, int] | None = None,
    ) -> list[Related | QueryError]:
        """`related` for many queries in one FAISS search; a failing query yields its QueryError in place."""
        self._check_k(k)
        out: list[Related | QueryError] = []
        embedded: list[tuple[int, EmbeddedQuery]] = []
        for i, text in enumerate(texts):
            try:
                embedded.append((i, self.embed(text)))
                out.append(QueryError("pending"))
            except QueryError as exc:
                out.append(exc)
        if not embedded:
            return out
        fetch = self._first_fetch(k, ranking)
        matrix = np.stack([q.vector for _, q in embedded])  # [Q, D]
        scores, ids = self._search(matrix, fetch, exact, search_params)
        for row, (i, q) in enumerate(embedded):
            hits = self._complete(q, k, ranking, exact, search_params, fetch, scores[row], ids[row])
            assert hits is not None
            out[i] = Related(query=texts[i], normalized=" ".join(q.tokens), hits=hits, oov=q.oov)
        return out

    def nearest(
        self, vector: np.ndarray, k: int, *, ranking: Ranking = DEFAULT_RANKING, exact: bool = False
    ) -> list[Hit]:
        """The k phrases nearest to a vector [D] that is not a query's (e.g. an image's predicted caption
        embedding), ranked and filtered as `related` does (popularity, min_count, denylist); it is
        L2-normalised here. QueryError for a zero vector or a wrong dimension."""
        self._check_k(k)
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(v))
        if v.shape[0] != self.dim or not norm > 0:
            raise QueryError(f"expected a non-zero vector of dimension {self.dim}")
        q = EmbeddedQuery(text="", tokens=[], known=[], oov=[], vector=v / norm)
        fetch = self._first_fetch(k, ranking)
        scores, ids = self._search(q.vector[None, :], fetch, exact, None)
        hits = self._complete(q, k, ranking, exact, None, fetch, scores[0], ids[0])
        assert hits is not None
        return hits
