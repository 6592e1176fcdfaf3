"""The `mmwe.index` artifact format (docs/formats.md §5): its file names, writer and reader, in one place.

`index/build.py` makes the FAISS index and calls `write_index_files`; `index/search.py` serves what
`read_index_files` returns. Serving therefore never imports the build pipeline.

    files = read_index_files(Path("data/index/default"), mmap=True, verify=True)
    files.index.ntotal == len(files.phrases)
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.ann import is_exact
from index.artifacts import (
    MANIFEST,
    Embeddings,
    load_embeddings,
    read_manifest,
    read_vocab,
    sha256_file,
    verify_checksums,
    write_manifest,
)
from index.errors import ArtifactError
from index.manifest import IndexManifest

INDEX_FORMAT = "mmwe.index"
INDEX_VERSION = 1
INDEX_FILE = "index.faiss"
PHRASES_FILE = "phrases.tsv"
VECTORS_FILE = "phrase_vectors.npy"
EMBEDDINGS_DIR = "embeddings"
MMAP_FLAGS = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY


def write_phrases(path: Path, texts: Sequence[str], counts: Sequence[int]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for text, count in zip(texts, counts, strict=True):
            f.write(f"{text}\t{int(count)}\n")


def write_index_files(
    directory: Path,
    index: Any,
    texts: Sequence[str],
    counts: Sequence[int],
    vectors: np.ndarray,
    embeddings_dir: Path,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write the artifact's files into `directory` (the temporary folder of an `atomic_directory`): the
    FAISS index, the phrases, the phrase vectors float32 [N, D] when the index is not exact, a copy of the
    embeddings artifact, and the manifest (`manifest` plus format, version and checksums); return it."""
    faiss.write_index(index, str(directory / INDEX_FILE))
    write_phrases(directory / PHRASES_FILE, texts, counts)
    files = [INDEX_FILE, PHRASES_FILE]
    if not is_exact(index):
        np.save(directory / VECTORS_FILE, vectors)
        files.append(VECTORS_FILE)
    shutil.copytree(embeddings_dir, directory / EMBEDDINGS_DIR)
    full = {
        "format": INDEX_FORMAT,
        "version": INDEX_VERSION,
        **manifest,
        "files": {name: sha256_file(directory / name) for name in files},
    }
    write_manifest(directory, full)
    return full


def embeddings_reference(embeddings_dir: Path, embeddings: Embeddings) -> dict[str, Any]:
    """The manifest's `embeddings` entry: where the vectors came from, and their manifest's checksum."""
    return {
        "source": str(embeddings_dir.resolve()),
        "model_kind": embeddings.manifest.get("model_kind"),
        "dim": embeddings.dim,
        "manifest_sha256": sha256_file(embeddings_dir / MANIFEST),
    }


def read_faiss(path: Path, mmap: bool) -> tuple[Any, bool, int]:
    """Read index.faiss (memory-mapped when asked and possible): (index, mapped, file size in bytes);
    ArtifactError naming it if unreadable. The size is taken here, once: a mapped file may be deleted
    later while the index serves (app/launch.py prunes copies other workers no longer load)."""
    try:
        info = path.stat()
    except OSError:
        raise ArtifactError(path, "missing index file") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactError(path, "missing index file")
    size = info.st_size
    if mmap:
        try:
            return faiss.read_index(str(path), MMAP_FLAGS), True, size
        except RuntimeError:
            pass  # this index type or file cannot be mapped: read it normally (which reports real corruption)
    try:
        return faiss.read_index(str(path)), False, size
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()
        raise ArtifactError(path, f"corrupt FAISS index: {reason[-1] if reason else exc}") from exc


@dataclass(frozen=True)
class IndexFiles:
    """The checked contents of an `mmwe.index` directory."""

    path: Path
    manifest: dict[str, Any]
    embeddings: Embeddings
    index: Any  # faiss.Index (CPU)
    phrases: list[str]
    counts: np.ndarray  # int64 [N]
    vectors: np.ndarray | None  # float32 [N, D], only for approximate indexes
    mmapped: bool  # whether the FAISS index is memory-mapped
    index_bytes: int  # size of index.faiss when read (FAISS's in-memory layout matches its file)


def read_index_files(path: Path, *, mmap: bool = True, verify: bool = True) -> IndexFiles:
    """Load and check an index directory; `verify` also checks every file's sha256 (reads each once).
    Every problem raises ArtifactError naming the file."""
    path = Path(path)
    manifest = read_manifest(path, INDEX_FORMAT, INDEX_VERSION)
    IndexManifest.parse(manifest, path / MANIFEST)  # every field's type: ArtifactError naming the field
    if verify:
        verify_checksums(path, manifest)
    embeddings = load_embeddings(path / EMBEDDINGS_DIR, mmap=True, verify=verify)
    phrases, counts = read_vocab(path / PHRASES_FILE)
    index_path = path / INDEX_FILE
    index, mmapped, index_bytes = read_faiss(index_path, mmap)
    if index.ntotal != len(phrases):
        raise ArtifactError(
            index_path, f"holds {index.ntotal} vectors but {PHRASES_FILE} has {len(phrases)} phrases"
        )
    if index.d != embeddings.dim or manifest.get("dim") != embeddings.dim:
        raise ArtifactError(index_path, f"dimension {index.d} differs from the embeddings' {embeddings.dim}")
    vectors = None
    if VECTORS_FILE in manifest.get("files", {}):
        vec_path = path / VECTORS_FILE
        try:
            vectors = np.load(vec_path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ArtifactError(vec_path, f"unreadable array: {exc}") from exc
        if vectors.dtype != np.float32 or vectors.shape != (len(phrases), embeddings.dim):
            raise ArtifactError(
                vec_path, f"expected float32 [{len(phrases)}, {embeddings.dim}], got {vectors.shape}"
            )
    return IndexFiles(path, manifest, embeddings, index, phrases, counts, vectors, mmapped, index_bytes)
