"""Artifact directories: atomic writes, manifests, checksums, and the embeddings format (docs/formats.md)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

import numpy as np

from index.errors import ArtifactError
from index.manifest import EmbeddingsManifest

EMBEDDINGS_FORMAT = "mmwe.embeddings"
EMBEDDINGS_VERSION = 2  # 2 adds the optional image part (docs/formats.md §4.1); version 1 still loads
MANIFEST = "manifest.json"
IMAGE_DIR = "image"  # the image part of an embeddings artifact: IMAGE_DIR/<name>.npy, float32
EMBEDDINGS_VOCAB = "vocab.tsv"  # word<TAB>count
EMBEDDINGS_VECTORS = "vectors.npy"  # float32 [V, D]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `final` in one rename.

    If the body raises, the temporary directory is removed and `final` is left exactly as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        old: Path | None = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}-{tmp.name[-8:]}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@overload
def atomic_write(path: Path, mode: Literal["wb"] = "wb") -> contextlib.AbstractContextManager[BinaryIO]: ...
@overload
def atomic_write(path: Path, mode: Literal["w"]) -> contextlib.AbstractContextManager[TextIO]: ...
def atomic_write(path: Path, mode: str = "wb") -> contextlib.AbstractContextManager[IO[Any]]:
    """Write one file atomically: `with atomic_write(path, "w") as f: f.write(...)`.

    The body writes to a temporary sibling (`.<name>.tmp-<random>`, text in UTF-8); on success it is flushed,
    fsynced and renamed over `path` in one step. If the body raises, the temporary file is removed and `path`
    is left exactly as it was. The file counterpart of `atomic_directory`.
    """
    return _atomic_write(Path(path), mode)


@contextlib.contextmanager
def _atomic_write(path: Path, mode: str) -> Iterator[IO[Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    with open(directory / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


def up_to_date(directory: Path, fingerprint: str) -> bool:
    """Whether `directory` holds an artifact whose manifest records this input `fingerprint` (then a rerun
    can reuse it); False when it is missing or unreadable."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
        return bool(manifest.get("fingerprint") == fingerprint)
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(directory: Path, expected_format: str, max_version: int) -> dict[str, Any]:
    """Read and check `directory/manifest.json`; raise ArtifactError naming the file on any problem."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise ArtifactError(directory, "not a directory (missing artifact)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(path, "missing manifest") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"corrupt manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(path, f"expected format {expected_format!r}, found {got!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1 or version > max_version:
        raise ArtifactError(
            path, f"unsupported {expected_format} version {version!r} (this build reads <= {max_version})"
        )
    return manifest


def verify_checksums(directory: Path, manifest: dict[str, Any]) -> None:
    """Check every file listed in manifest['files'] against its sha256."""
    for name, expected in manifest.get("files", {}).items():
        path = Path(directory) / name
        if not path.is_file():
            raise ArtifactError(path, "missing file listed in manifest")
        if sha256_file(path) != expected:
            raise ArtifactError(path, "checksum mismatch (file is corrupt or was modified)")


def write_vocab(path: Path, words: Sequence[str], counts: Sequence[int]) -> None:
    if len(words) != len(counts):
        raise ValueError("words and counts differ in length")
    with open(path, "w", encoding="utf-8") as f:
        for word, count in zip(words, counts, strict=True):
            if "\t" in word or "\n" in word:
                raise ValueError(f"vocabulary entry has a tab or newline: {word!r}")
            f.write(f"{word}\t{int(count)}\n")


def read_vocab(path: Path) -> tuple[list[str], np.ndarray]:
    """Read `word<TAB>count` lines; raise ArtifactError naming file and line on a malformed one."""
    words: list[str] = []
    counts: list[int] = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2:
                    raise ArtifactError(path, f"line {lineno}: expected 'word<TAB>count'")
                try:
                    counts.append(int(parts[1]))
                except ValueError as exc:
                    raise ArtifactError(path, f"line {lineno}: count is not an integer") from exc
                words.append(parts[0])
    except FileNotFoundError as exc:
        raise ArtifactError(path, "missing file") from exc
    except UnicodeDecodeError as exc:
        raise ArtifactError(path, f"not UTF-8: {exc}") from exc
    return words, np.asarray(counts, dtype=np.int64)


@dataclass(frozen=True)
class Embeddings:
    """Word vectors with their vocabulary, as stored in an `mmwe.embeddings` directory."""

    words: list[str]
    counts: np.ndarray  # int64 [V]
    vectors: np.ndarray  # float32 [V, D]
    manifest: dict[str, Any]
    path: Path | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def word_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def write_embeddings(
    final: Path,
    words: Sequence[str],
    counts: Sequence[int],
    vectors: np.ndarray,
    *,
    model_kind: str,
    corpus: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
    seed: int | None,
    image: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Write an embeddings artifact atomically to `final`; return its manifest.

    `image` = (description, arrays) of an image model's first step (index.image_model.IMAGE_ARRAYS): stored
    as `image/<name>.npy` float32, described by the manifest's `image` field, checksummed like the rest."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"vectors shape {vectors.shape} does not match {len(words)} words")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    if len(set(words)) != len(words):
        raise ValueError("vocabulary has duplicate words")
    with atomic_directory(Path(final)) as tmp:
        write_vocab(tmp / EMBEDDINGS_VOCAB, words, counts)
        np.save(tmp / EMBEDDINGS_VECTORS, vectors)
        names = [EMBEDDINGS_VOCAB, EMBEDDINGS_VECTORS]
        if image is not None:
            (tmp / IMAGE_DIR).mkdir()
            for name, array in image[1].items():
                array = np.ascontiguousarray(array, dtype=np.float32)
                if not np.isfinite(array).all():
                    raise ValueError(f"image array {name} contains NaN or infinity")
                np.save(tmp / IMAGE_DIR / f"{name}.npy", array)
                names.append(f"{IMAGE_DIR}/{name}.npy")
        manifest: dict[str, Any] = {
            "format": EMBEDDINGS_FORMAT,
            "version": EMBEDDINGS_VERSION,
            "model_kind": model_kind,
            "dim": int(vectors.shape[1]),
            "vocab_size": len(words),
            "corpus": corpus,
            "training": training,
            "metrics": metrics,
            "seed": seed,
            "created_at": utc_now(),
            "files": {name: sha256_file(tmp / name) for name in names},
        }
        if image is not None:
            manifest["image"] = image[0]
        write_manifest(tmp, manifest)
    return manifest


def load_embeddings(directory: Path, *, mmap: bool = True, verify: bool = False) -> Embeddings:
    """Load an embeddings artifact. Errors name the offending file."""
    directory = Path(directory)
    manifest = read_manifest(directory, EMBEDDINGS_FORMAT, EMBEDDINGS_VERSION)
    EmbeddingsManifest.parse(manifest, directory / MANIFEST)
    if verify:
        verify_checksums(directory, manifest)
    words, counts = read_vocab(directory / EMBEDDINGS_VOCAB)
    vec_path = directory / EMBEDDINGS_VECTORS
    try:
        vectors = np.load(vec_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError as exc:
        raise ArtifactError(vec_path, "missing file") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise ArtifactError(vec_path, f"corrupt array: {exc}") from exc
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ArtifactError(
            vec_path, f"expected float32 [{len(words)}, D], found {vectors.dtype} {vectors.shape}"
        )
    return Embeddings(words=words, counts=counts, vectors=vectors, manifest=manifest, path=directory)
