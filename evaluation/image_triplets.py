"""A triplet benchmark built from the images themselves: terms describing one photo are related.

For every photo (sorted ids, one numpy Generator(seed), so the same captions and seed give the same file):
`per_image` times, two different captions of the photo are drawn; the base is a term of the first, the
positive a term of the second that shares no word with the base; the negative is a term of a caption of
another photo, drawn until none of its words occurs in any caption of the base photo. A term is one content
word (`phrase_words=1`) or two adjacent content words (`phrase_words=2`, e.g. "black dog"); content words
are the caption's lower-cased alphabetic tokens minus `STOPWORDS`, and, when `vocab` is given, only terms
whose words are all in it (so every model evaluated on that vocabulary covers every triplet).

Build it on held-out photos only (Flickr8k's test split: `python -m training build-triplets captions`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from evaluation.builder import BuildStats, Triplet

# Function words and the caption boilerplate that describes no content.
_STOPWORD_TEXT = """
    a an the and or but of in on at to from by with without into onto over under up down out off for as
    is are was were be been being it its it's this that these those there here his her their them they
    he she him we you i one two three four some another other each while who which what where when very
    near next behind front top side has have having does do doing just not no
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_TOKEN = re.compile(r"[a-z]+")


def read_flickr8k_captions(token_file: Path | str, image_list: Path | str) -> dict[str, list[str]]:
    """Captions (`Flickr8k.token.txt`: `image.jpg#k<TAB>caption`) of the images listed in `image_list`."""
    keep = {
        line.strip() for line in Path(image_list).read_text(encoding="utf-8").splitlines() if line.strip()
    }
    out: dict[str, list[str]] = {}
    for line in Path(token_file).read_text(encoding="utf-8").splitlines():
        key, _, caption = line.partition("\t")
        image = key.split("#", 1)[0]
        if image in keep and caption.strip():
            out.setdefault(image, []).append(caption.strip())
    return out


def caption_terms(
    caption: str, phrase_words: int, vocab: Collection[str] | None, stopwords: Collection[str]
) -> list[str]:
    """The content terms of one caption: runs of `phrase_words` adjacent content words."""
    terms: list[str] = []
    run: list[str] = []
    for token in _TOKEN.findall(caption.lower()):
        if token in stopwords or len(token) < 2 or (vocab is not None and token not in vocab):
            run = []
            continue
        run.append(token)
        if len(run) >= phrase_words:
            terms.append(" ".join(run[-phrase_words:]))
    return list(dict.fromkeys(terms))


def triplets_from_captions(
    captions: Mapping[str, Sequence[str]],
    *,
    per_image: int = 5,
    phrase_words: int = 1,
    seed: int = 0,
    vocab: Collection[str] | None = None,
    stopwords: Collection[str] = STOPWORDS,
    max_tries: int = 50,
) -> tuple[list[Triplet], BuildStats]:
    """Triplets (base, positive of the same photo, negative of another photo); see the module docstring."""
    if phrase_words < 1:
        raise ValueError(f"phrase_words must be >= 1, got {phrase_words}")
    images = sorted(captions)
    terms = {img: [caption_terms(c, phrase_words, vocab, stopwords) for c in captions[img]] for img in images}
    words = {img: {w for c in terms[img] for t in c for w in t.split()} for img in images}
    stats = BuildStats(
        config={"per_image": per_image, "phrase_words": phrase_words, "seed": seed, "max_tries": max_tries}
    )
    rng = np.random.default_rng(seed)
    out: list[Triplet] = []
    seen: set[Triplet] = set()
    for index, img in enumerate(images):
        stats.queries += 1
        usable = [c for c in terms[img] if c]
        if len(usable) < 2 or len(images) < 2:
            continue
        made = 0
        for _ in range(per_image * max_tries):
            if made >= per_image:
                break
            i, j = rng.choice(len(usable), size=2, replace=False)
            base = usable[int(i)][int(rng.integers(len(usable[int(i)])))]
            base_words = set(base.split())
            candidates = [t for t in usable[int(j)] if not base_words & set(t.split())]
            if not candidates:
                continue
            positive = candidates[int(rng.integers(len(candidates)))]
            negative = _draw_negative(images, index, terms, words[img], rng, max_tries)
            if negative is None:
                stats.no_negative += 1
                continue
            triplet = (base, positive, negative)
            if triplet in seen:
                continue
            seen.add(triplet)
            out.append(triplet)
            made += 1
        stats.positives += made
        stats.queries_with_positives += made > 0
    stats.triplets = len(out)
    return out, stats


def _draw_negative(
    images: Sequence[str],
    index: int,
    terms: Mapping[str, list[list[str]]],
    avoid: set[str],
    rng: np.random.Generator,
    max_tries: int,
) -> str | None:
    for _ in range(max_tries):
        other = int(rng.integers(len(images) - 1))
        other += other >= index  # any photo but this one
        pool = [t for c in terms[images[other]] for t in c]
        if not pool:
            continue
        term = pool[int(rng.integers(len(pool)))]
        if not avoid & set(term.split()):
            return term
    return None
