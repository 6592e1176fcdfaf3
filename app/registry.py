"""The served models by name (`MMWE_INDEXES`), each an `IndexHolder`, and the A/B split of `/v1/related`.

    registry = ModelRegistry({"a": holder_a, "w2v": holder_w2v}, split=[("a", 90), ("w2v", 10)])
    name, holder, assignment = registry.choose(model=None, client="user-42")   # the split's arm, stable

A request that names a model (`?model=`) gets it; one that does not gets the default model (the first
named), or, with `MMWE_AB_SPLIT`, an arm of the split: the same arm for the same client id on every worker
and replica (a hash of the id, not a random draw), a random arm without a client id.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from itertools import accumulate

from app.errors import NotFound
from app.serving import IndexHolder


class UnknownModel(NotFound):
    code = "unknown_model"


def bucket(client: str, total: int) -> int:
    """A stable integer in [0, total) for a client id (the first 8 bytes of its BLAKE2b digest)."""
    digest = hashlib.blake2b(client.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % total


class ModelRegistry:
    def __init__(self, holders: dict[str, IndexHolder], split: list[tuple[str, int]] | None = None) -> None:
        if not holders:
            raise ValueError("at least one model")
        self.holders = holders
        self.names = list(holders)
        self.default = self.names[0]
        arms = [(name, weight) for name, weight in split or [] if weight > 0]
        self.arms = [name for name, _ in arms]
        self.bounds = list(accumulate(weight for _, weight in arms))  # cumulative weights
        self.total = self.bounds[-1] if self.bounds else 0

    def holder(self, name: str | None) -> tuple[str, IndexHolder]:
        """The named model (None: the default); 404 naming the served models when there is no such one."""
        key = self.default if name is None else name
        found = self.holders.get(key)
        if found is None:
            raise UnknownModel(f"unknown model {name!r}", detail={"models": self.names})
        return key, found

    def assign(self, client: str | None) -> str | None:
        """The split's arm for a client id (random without one); None when no split is configured."""
        if not self.total:
            return None
        point = bucket(client, self.total) if client else random.randrange(self.total)
        return self.arms[bisect.bisect_right(self.bounds, point)]

    def choose(self, model: str | None, client: str | None) -> tuple[str, IndexHolder, str | None]:
        """(model name, its holder, the A/B arm when the split chose it else None) for a related query."""
        if model is None:
            arm = self.assign(client)
            if arm is not None:
                return arm, self.holders[arm], arm
        name, holder = self.holder(model)
        return name, holder, None
