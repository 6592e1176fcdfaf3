"""The parsed benchmark data sets: what the readers (`readers.py`, `fast_triplets.py`) return and the
evaluators take. Plain frozen dataclasses of numpy arrays; no parsing here, so every reader can import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

TRIPLET_HEADER = ("base", "positive", "negative")


@dataclass(frozen=True)
class TripletSet:
    """Triplets as ids into a list of distinct phrase strings (as written in the file)."""

    path: Path
    sha256: str
    phrases: list[str]
    ids: NDArray[np.int64]  # [n, 3]: base, positive, negative
    lines: NDArray[np.int64]  # [n]: 1-based line number of each triplet

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class PairSet:
    """Term pairs with a human similarity score."""

    path: Path
    sha256: str
    first: list[str]
    second: list[str]
    scores: NDArray[np.float64]  # [n]
    lines: NDArray[np.int64]  # [n]

    def __len__(self) -> int:
        return len(self.first)


@dataclass(frozen=True)
class AnalogySet:
    """Analogy questions `a : b :: c : d`, grouped in sections."""

    path: Path
    sha256: str
    sections: list[str]
    questions: list[tuple[str, str, str, str]]
    section_of: NDArray[np.int64]  # [n]: index into sections
    lines: NDArray[np.int64]  # [n]

    def __len__(self) -> int:
        return len(self.questions)


Dataset = TripletSet | PairSet | AnalogySet
