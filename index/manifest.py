"""Typed manifests: the fields of `mmwe.index` and `mmwe.embeddings` manifests that readers use, checked.

`read_manifest` (index/artifacts.py) checks format and version; `IndexManifest.parse` and
`EmbeddingsManifest.parse` check the rest (types of every field a reader or the service uses), so a malformed
manifest is an `ArtifactError` naming the file and the field, raised when the artifact is loaded, never a
`KeyError`/`TypeError` later in whatever reads the field. A typed dataclass rather than a pydantic model:
`index` is torch-free and pydantic-free (its core dependencies are numpy and FAISS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import ArtifactError

Json = dict[str, Any]


class _Fields:
    """Typed access to a manifest's fields; every failure names the file and the field."""

    def __init__(self, raw: Json, path: Path) -> None:
        self.raw = raw
        self.path = path

    def fail(self, name: str, expected: str) -> ArtifactError:
        got = type(self.raw.get(name)).__name__
        return ArtifactError(self.path, f"malformed manifest: {name!r} must be {expected}, found {got}")

    def integer(self, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
        value = self.raw.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(name, f"an integer >= {minimum}")
        return value

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(name, "a number")
        return float(value)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(name, "a string")
        return value

    def mapping(self, name: str) -> Json:
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(name, "an object")
        return value

    def checksums(self) -> dict[str, str]:
        files = self.mapping("files")
        for name, digest in files.items():
            bad_name = not name or name.startswith("/") or ".." in Path(name).parts
            if bad_name or not isinstance(digest, str) or len(digest) != 64:
                raise ArtifactError(
                    self.path,
                    f"malformed manifest: 'files' entry {name!r} must map a relative file to a sha256",
                )
        return files


@dataclass(frozen=True)
class EmbeddingsManifest:
    model_kind: str | None
    dim: int
    vocab_size: int | None
    files: dict[str, str]
    corpus: Json
    metrics: Json
    seed: int | None
    created_at: str | None

    @classmethod
    def parse(cls, raw: Json, path: Path) -> EmbeddingsManifest:
        f = _Fields(raw, path)
        return cls(
            model_kind=f.text("model_kind"),
            dim=f.integer("dim", minimum=1) or 0,
            vocab_size=f.integer("vocab_size", required=False),
            files=f.checksums(),
            corpus=f.mapping("corpus"),
            metrics=f.mapping("metrics"),
            seed=f.integer("seed", required=False, minimum=-(2**63)),
            created_at=f.text("created_at"),
        )


@dataclass(frozen=True)
class IndexManifest:
    dim: int
    num_phrases: int | None
    factory: str | None
    metric: str | None
    files: dict[str, str]
    search_params: Json
    embeddings: Json
    recall: Json | None
    phrase_sources: Json
    build_seconds: float | None
    created_at: str | None

    @classmethod
    def parse(cls, raw: Json, path: Path) -> IndexManifest:
        f = _Fields(raw, path)
        recall = raw.get("recall")
        if recall is not None and not isinstance(recall, dict):
            raise f.fail("recall", "an object")
        return cls(
            dim=f.integer("dim", minimum=1) or 0,
            num_phrases=f.integer("num_phrases", required=False),
            factory=f.text("factory"),
            metric=f.text("metric"),
            files=f.checksums(),
            search_params=f.mapping("search_params"),
            embeddings=f.mapping("embeddings"),
            recall=recall,
            phrase_sources=f.mapping("phrase_sources"),
            build_seconds=f.number("build_seconds"),
            created_at=f.text("created_at"),
        )
