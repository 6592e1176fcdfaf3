"""Text normalisation shared by training, indexing and serving (docs/formats.md)."""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lowercase, turn every run of non-alphanumerics into one space, split.

    >>> tokenize("A Hot-Dog, please!")
    ['a', 'hot', 'dog', 'please']
    """
    return _NON_ALNUM.sub(" ", text.lower()).split()


def normalize_phrase(text: str) -> str:
    """The canonical form of a phrase: its tokens joined by single spaces."""
    return " ".join(tokenize(text))
