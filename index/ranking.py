"""How related phrases are ranked and filtered: popularity prior, compounds, near-duplicates, denylist.

    from index.ranking import Ranking, load_denylist
    ranking = Ranking(denylist=load_denylist("default"))   # the product default (docs/api.md "Ranking")
    searcher.related("dog", k=10, ranking=ranking)
    searcher.related("dog", k=10, ranking=Ranking.cosine())   # cosine alone, nothing filtered

A search fetches more candidates than asked (`fetch_for`), then orders and trims them as follows. The
served path does it on integer arrays (`index/phrase_table.py`, used by `index.search`); `rank_candidates`
and `select` here are the same rules written plainly over (phrase, cosine, count) tuples: the specification
that tests/index/test_phrase_table.py checks the fast path against.

- candidates with a corpus count below `min_count`, or containing a denylisted word or phrase, are dropped;
- a candidate equal to the query up to word order and plural is dropped (it is the query; without
  `collapse`, only the query phrase itself);
- the rest are ordered by `cosine + popularity * ln(1 + count)` (the hit keeps its raw cosine as `score`);
- near-duplicates (the same words up to order and plural: "hot dog", "hot dogs", "dog hot") appear once, the
  best-ranked spelling (`collapse`, on by default);
- phrases sharing a content word with the query (compounds, "dog house" for "dog"; function words such as
  "of" do not count) are kept (`include`), capped at
  `compound_share` of k (`limit`, the rest are associations) or dropped (`exclude`).

The default constants were chosen on the development relatedness sets and checked on the image-derived dev
triplets (bench/ranking_bench.py, docs/api.md "Ranking").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from index.errors import ArtifactError
from index.mining import EDGE_STOPWORDS
from index.text import normalize_phrase

Compounds = Literal["include", "limit", "exclude"]
COMPOUNDS: tuple[Compounds, ...] = ("include", "limit", "exclude")
DEFAULT_POPULARITY = 0.02
DEFAULT_MIN_COUNT = 2
DEFAULT_COMPOUND_SHARE = 0.3
DENYLIST_FILE = Path(__file__).resolve().parent / "denylist.txt"

# Plurals that the suffix rules below miss (irregular nouns common in image captions).
IRREGULAR = {
    "children": "child",
    "men": "man",
    "women": "woman",
    "people": "person",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
    "oxen": "ox",
    "knives": "knife",
    "leaves": "leaf",
    "wolves": "wolf",
    "shelves": "shelf",
}
_KEEP_S = ("ss", "us", "is", "ous")


def singular(word: str) -> str:
    """A light plural fold for matching (not a lemmatiser): dogs -> dog, boxes -> box, babies -> baby."""
    irregular = IRREGULAR.get(word)
    if irregular is not None:
        return irregular
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_KEEP_S):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    return word[:-1]


@dataclass(frozen=True)
class PhraseKey:
    folded: frozenset[str]  # the phrase's words, plurals folded
    key: tuple[str, ...]  # sorted folded words: equal keys are near-duplicates
    ordered: tuple[str, ...]  # the folded words in phrase order


@lru_cache(maxsize=1 << 17)
def phrase_key(phrase: str) -> PhraseKey:
    """The matching forms of a normalised phrase (for the reference `select` and `Denylist.blocks_text`)."""
    folded = tuple(singular(t) for t in phrase.split(" "))
    return PhraseKey(frozenset(folded), tuple(sorted(folded)), folded)


@dataclass(frozen=True)
class Denylist:
    """Words and phrases never suggested; a phrase is blocked when it contains one (plurals folded)."""

    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]  # multi-word entries, folded, matched as contiguous words
    source: str
    starts: frozenset[str] = frozenset()  # first words of `phrases` (a phrase without one cannot match)

    def blocks(self, key: PhraseKey) -> bool:
        if not self.words.isdisjoint(key.folded):
            return True
        if self.starts.isdisjoint(key.folded):
            return False
        folded = key.ordered
        for entry in self.phrases:
            n = len(entry)
            if entry[0] in key.folded and any(folded[i : i + n] == entry for i in range(len(folded) - n + 1)):
                return True
        return False

    def blocks_text(self, phrase: str) -> bool:
        return self.blocks(phrase_key(phrase))


def read_denylist(path: Path, source: str | None = None) -> Denylist:
    """One word or phrase per line; `#` starts a comment. ArtifactError naming `path` if unreadable."""
    words: set[str] = set()
    phrases: set[tuple[str, ...]] = set()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"unreadable denylist: {exc}") from exc
    for line in lines:
        text = normalize_phrase(line.split("#", 1)[0])
        if not text:
            continue
        folded = tuple(singular(t) for t in text.split(" "))
        if len(folded) == 1:
            words.add(folded[0])
        else:
            phrases.add(folded)
    starts = frozenset(entry[0] for entry in phrases)
    return Denylist(frozenset(words), tuple(sorted(phrases)), source or str(path), starts)


def load_denylist(spec: str | Path | None) -> Denylist | None:
    """`"default"` (the shipped index/denylist.txt), `"none"`/None (no denylist), or a file path."""
    if spec is None or str(spec).strip().lower() == "none":
        return None
    if str(spec).strip().lower() == "default":
        return read_denylist(DENYLIST_FILE, "default")
    return read_denylist(Path(spec))


@dataclass(frozen=True)
class Ranking:
    """One request's ranking options (see the module docstring); `Ranking()` is the product default."""

    popularity: float = DEFAULT_POPULARITY
    min_count: int = DEFAULT_MIN_COUNT
    compounds: Compounds = "limit"
    compound_share: float = DEFAULT_COMPOUND_SHARE
    collapse: bool = True  # near-duplicates (and spellings of the query) shown once / not at all
    denylist: Denylist | None = field(default=None, compare=False)

    @classmethod
    def cosine(cls) -> Ranking:
        """Cosine alone, as before ranking existed: only the query phrase itself is left out."""
        return cls(popularity=0.0, min_count=0, compounds="include", collapse=False)

    def compound_cap(self, k: int) -> int:
        if self.compounds == "include":
            return k
        if self.compounds == "exclude":
            return 0
        return max(1, math.floor(k * self.compound_share))

    def fetch_for(self, k: int) -> int:
        """Candidates the first search fetches for k hits (more when the ranking reorders or filters)."""
        plain = self.popularity == 0 and self.min_count <= 0 and self.compounds == "include"
        if plain and self.denylist is None:
            return k + 1 if not self.collapse else k + 4
        return 16 * k + 64  # the candidate pool the ranking orders: one search suffices for most queries

    def widen_limit(self, k: int) -> int | None:
        """Most candidates a widening search looks at (None: all); past it, `limit` lets more compounds in."""
        plain = self.popularity == 0 and self.min_count <= 0 and self.compounds == "include"
        return None if plain and not self.collapse and self.denylist is None else 64 * k + 1024


Candidate = tuple[str, float, int]  # (phrase, cosine, corpus count)


def rank_key(candidate: Candidate, weight: float) -> float:
    """The ranking score: cosine + weight * ln(1 + count)."""
    return candidate[1] + weight * math.log1p(candidate[2])


def rank_candidates(
    query_tokens: list[str], candidates: list[Candidate], k: int, ranking: Ranking, fill: bool = False
) -> list[Candidate]:
    """The best k of `candidates` (given in cosine order) under `ranking` (see the module docstring)."""
    kept = [c for c in candidates if c[2] >= ranking.min_count]
    if ranking.popularity:
        kept.sort(key=lambda c: -rank_key(c, ranking.popularity))  # stable: ties keep cosine order
    return select(query_tokens, kept, k, ranking, fill)


def select(
    query_tokens: list[str], ordered: Iterable[Candidate], k: int, ranking: Ranking, fill: bool = False
) -> list[Candidate]:
    """The first k of `ordered` (in ranking order, `min_count` applied) that the ranking's filters keep.

    `fill`: when fewer than k remain, compounds beyond the `limit` cap fill the list (the last widening of a
    search whose neighbourhood holds too few associations). Stops reading `ordered` at the k-th hit.
    """
    normalized = " ".join(query_tokens)
    query = phrase_key(normalized)
    content = query.folded - EDGE_STOPWORDS or query.folded  # "of" in "peace of mind" makes no compound
    collapse = ranking.collapse
    deny = ranking.denylist
    drop_compounds = ranking.compounds == "exclude"
    cap = ranking.compound_cap(k)
    seen: set[tuple[str, ...]] = set()
    out: list[tuple[int, Candidate]] = []
    over_cap: list[tuple[int, Candidate, tuple[str, ...]]] = []
    compounds = 0
    for n, c in enumerate(ordered):
        key = phrase_key(c[0])
        if (key.key == query.key if collapse else c[0] == normalized) or (deny and deny.blocks(key)):
            continue
        if collapse and key.key in seen:
            continue
        compound = not content.isdisjoint(key.folded)
        if compound and (drop_compounds or compounds >= cap):
            if not drop_compounds:
                over_cap.append((n, c, key.key))
            continue
        if collapse:
            seen.add(key.key)
        compounds += compound
        out.append((n, c))
        if len(out) == k:
            break
    if fill and len(out) < k:
        for n, c, dup in over_cap:
            if not (collapse and dup in seen):
                seen.add(dup)
                out.append((n, c))
                if len(out) == k:
                    break
        out.sort(key=lambda t: t[0])
    return [c for _, c in out]


DEFAULT_RANKING = Ranking()
