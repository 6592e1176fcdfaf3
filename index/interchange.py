"""Standard embedding formats in and out: word2vec text, word2vec binary, TensorFlow Embedding Projector TSV.

    python -m index export data/embeddings/demo-a --format word2vec demo-a.txt
    python -m index export data/embeddings/demo-a --format word2vec-binary demo-a.bin
    python -m index export data/embeddings/demo-a --format tsv projector/   # vectors.tsv + metadata.tsv
    python -m index import vectors.txt --format word2vec --out data/embeddings/mine

- `word2vec`: a header line `V D`, then one line per word: the word and D numbers separated by spaces
  (what gensim's `KeyedVectors.load_word2vec_format(path)` and the original word2vec tool read).
- `word2vec-binary`: the same header, then per word `word` + one space + D little-endian float32 + newline
  (`load_word2vec_format(path, binary=True)`).
- `tsv`: a folder with `vectors.tsv` (one row of D tab-separated numbers per word) and `metadata.tsv`
  (one word per line, no header: the single-column form), the files https://projector.tensorflow.org loads.

Rows are written in vocabulary order (most frequent first). Numbers in the text formats use 9 significant
digits, which round-trip float32 exactly. Importing normalises each word with `index.text.tokenize`: a word
that is not exactly one token after normalisation ("New York", "--") is dropped, and of several words that
normalise to the same token ("Dog", "dog") the first one in the file is kept; the counts are listed in the
manifest's `training.import` field. Word2vec files carry no counts, so imported vocabularies have count 0
(the phrase index reads counts from the corpus, not from the embeddings).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from index.artifacts import Embeddings, sha256_file, write_embeddings
from index.errors import MmweError
from index.text import tokenize

FORMATS = ("word2vec", "word2vec-binary", "tsv")
MEDIA_TYPES = {"word2vec": "text/plain; charset=utf-8", "word2vec-binary": "application/octet-stream"}
_ROWS_PER_CHUNK = 512


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise MmweError(f"unknown embeddings format {fmt!r} (one of {', '.join(FORMATS)})")


def _text_rows(vectors: np.ndarray, lo: int, hi: int, sep: str) -> list[str]:
    block = np.asarray(vectors[lo:hi], dtype=np.float32)
    return [sep.join(f"{x:.9g}" for x in row.tolist()) for row in block]


def word2vec_chunks(emb: Embeddings, binary: bool = False) -> Iterator[bytes]:
    """The word2vec file of `emb` in pieces of a few hundred rows (for files and HTTP streaming alike)."""
    vectors = emb.vectors
    yield f"{len(emb.words)} {emb.dim}\n".encode()
    for lo in range(0, len(emb.words), _ROWS_PER_CHUNK):
        hi = min(lo + _ROWS_PER_CHUNK, len(emb.words))
        if binary:
            block = np.asarray(vectors[lo:hi], dtype="<f4")
            yield b"".join(
                emb.words[i].encode() + b" " + block[i - lo].tobytes() + b"\n" for i in range(lo, hi)
            )
        else:
            rows = _text_rows(vectors, lo, hi, " ")
            yield "".join(f"{emb.words[i]} {rows[i - lo]}\n" for i in range(lo, hi)).encode()


def export_embeddings(emb: Embeddings, fmt: str, out: Path) -> list[Path]:
    """Write `emb` in `fmt` to `out` (a file; a folder for `tsv`); return the files written."""
    _check_format(fmt)
    out = Path(out)
    if fmt == "tsv":
        out.mkdir(parents=True, exist_ok=True)
        files = [out / "vectors.tsv", out / "metadata.tsv"]
        with open(files[0], "w", encoding="utf-8") as vec, open(files[1], "w", encoding="utf-8") as meta:
            for lo in range(0, len(emb.words), _ROWS_PER_CHUNK):
                hi = min(lo + _ROWS_PER_CHUNK, len(emb.words))
                vec.writelines(row + "\n" for row in _text_rows(emb.vectors, lo, hi, "\t"))
                meta.writelines(word + "\n" for word in emb.words[lo:hi])
        return files
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        for chunk in word2vec_chunks(emb, binary=fmt == "word2vec-binary"):
            f.write(chunk)
    return [out]


# ---- reading -----------------------------------------------------------------------------------------------
def _header(path: Path, line: bytes) -> tuple[int, int]:
    parts = line.split()
    try:
        count, dim = (int(p) for p in parts)
    except ValueError as exc:
        raise MmweError(f"{path}: line 1: expected the word2vec header 'V D', found {line[:80]!r}") from exc
    if count < 1 or dim < 1:
        raise MmweError(f"{path}: line 1: header says {count} words of dimension {dim}")
    return count, dim


def _parse_floats(path: Path, where: str, values: list[str], dim: int) -> np.ndarray:
    if len(values) != dim:
        raise MmweError(f"{path}: {where}: expected {dim} numbers, found {len(values)}")
    try:
        return np.asarray([float(v) for v in values], dtype=np.float32)
    except ValueError as exc:
        raise MmweError(f"{path}: {where}: not a number: {exc}") from exc


def _text_row(path: Path, f: BinaryIO, i: int, dim: int) -> tuple[str, np.ndarray]:
    line = f.readline()
    if not line:
        raise MmweError(f"{path}: ends after {i} of the words its header announces")
    parts = line.decode("utf-8", errors="replace").rstrip().split(" ")
    if len(parts) <= dim:  # a word may itself hold spaces: the vector is the last `dim` fields
        raise MmweError(f"{path}: line {i + 2}: expected a word and {dim} numbers")
    return " ".join(parts[:-dim]), _parse_floats(path, f"line {i + 2}", parts[-dim:], dim)


def _read_word(path: Path, f: BinaryIO, i: int) -> str:
    raw = bytearray()
    while True:
        ch = f.read(1)
        if not ch:
            raise MmweError(f"{path}: truncated in word {i + 1}")
        if ch == b" ":
            break
        if ch != b"\n" or raw:  # a newline before the word ends the previous vector
            raw += ch
        if len(raw) > 10_000:
            raise MmweError(f"{path}: word {i + 1} is longer than 10,000 bytes: not a word2vec binary file")
    return raw.decode("utf-8", errors="replace")


def _binary_row(path: Path, f: BinaryIO, i: int, dim: int) -> tuple[str, np.ndarray]:
    word = _read_word(path, f, i)
    raw = f.read(4 * dim)
    if len(raw) != 4 * dim:
        raise MmweError(f"{path}: truncated in the vector of word {i + 1} ({word!r})")
    return word, np.frombuffer(raw, dtype="<f4")


def _read_word2vec(path: Path, binary: bool) -> tuple[list[str], np.ndarray]:
    row = _binary_row if binary else _text_row
    with open(path, "rb") as f:
        count, dim = _header(path, f.readline())
        words: list[str] = []
        vectors = np.empty((count, dim), dtype=np.float32)
        for i in range(count):
            word, vectors[i] = row(path, f, i, dim)
            words.append(word)
    return words, vectors


def _read_tsv(path: Path, metadata: Path | None) -> tuple[list[str], np.ndarray]:
    vec_path = path / "vectors.tsv" if path.is_dir() else path
    meta_path = metadata or vec_path.with_name("metadata.tsv")
    try:
        words = [w.split("\t")[0] for w in meta_path.read_text(encoding="utf-8").splitlines()]
        rows = vec_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise MmweError(f"{exc.filename}: missing file") from exc
    except UnicodeDecodeError as exc:
        raise MmweError(f"{vec_path} or {meta_path}: not UTF-8: {exc}") from exc
    if not rows:
        raise MmweError(f"{vec_path}: no vectors")
    if len(words) != len(rows):
        raise MmweError(f"{meta_path}: {len(words)} words for the {len(rows)} rows of {vec_path}")
    dim = len(rows[0].split("\t"))
    vectors = np.empty((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        vectors[i] = _parse_floats(vec_path, f"line {i + 1}", row.split("\t"), dim)
    return words, vectors


def read_vectors(path: Path, fmt: str, metadata: Path | None = None) -> tuple[list[str], np.ndarray]:
    """Words and float32 [V, D] vectors of a word2vec(-binary) or tsv file, as written (no cleaning)."""
    _check_format(fmt)
    path = Path(path)
    if not path.exists():
        raise MmweError(f"{path}: missing file")
    if fmt in ("word2vec", "word2vec-binary"):
        words, vectors = _read_word2vec(path, binary=fmt == "word2vec-binary")
    else:
        words, vectors = _read_tsv(path, metadata)
    if not np.isfinite(vectors).all():
        raise MmweError(f"{path}: vectors contain NaN or infinity")
    return words, vectors


def import_embeddings(
    path: Path, fmt: str, out: Path, metadata: Path | None = None, model_kind: str = "imported"
) -> dict[str, Any]:
    """Read a standard-format file into an `mmwe.embeddings` artifact at `out`; return its manifest."""
    raw_words, vectors = read_vectors(path, fmt, metadata)
    keep: list[int] = []
    words: list[str] = []
    seen: set[str] = set()
    not_one_token = duplicates = 0
    for i, raw in enumerate(raw_words):
        tokens = tokenize(raw)
        if len(tokens) != 1:
            not_one_token += 1
        elif tokens[0] in seen:
            duplicates += 1
        else:
            seen.add(tokens[0])
            words.append(tokens[0])
            keep.append(i)
    if not words:
        raise MmweError(f"{path}: no word survives normalisation (index.text.tokenize)")
    source = Path(path) / "vectors.tsv" if Path(path).is_dir() else Path(path)
    info = {
        "format": fmt,
        "path": str(path),
        "sha256": sha256_file(source),
        "rows": len(raw_words),
        "kept": len(words),
        "dropped_not_one_token": not_one_token,
        "dropped_duplicate": duplicates,
    }
    manifest = write_embeddings(
        Path(out),
        words,
        [0] * len(words),
        vectors[keep],
        model_kind=model_kind,
        corpus={"name": Path(path).name, "num_sentences": 0, "num_tokens": 0},
        training={"import": info},
        metrics={},
        seed=None,
    )
    return manifest
