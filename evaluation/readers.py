"""Readers for the benchmark file formats (docs/evaluation.md describes each with an example).

Every reader raises `BenchmarkFormatError` naming the file and the 1-based line of the first malformed line.
- triplets: `base<TAB>positive<TAB>negative`, optional header `base<TAB>positive<TAB>negative`.
- similarity, tsv (gensim's format): `term1<TAB>term2<TAB>score`.
- similarity, csv: a header row naming the columns; which ones hold term1, term2 and score is configurable.
- analogy (gensim's questions-words.txt): `: section` lines, then `a b c d` per line (a is to b as c is to d).
In every format blank lines and lines starting with `#` are skipped, a trailing `\\r` is ignored, and a term
is any text with at least one alphanumeric token (multi-word terms are phrases, see `phrases.py`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from evaluation.datasets import TRIPLET_HEADER, AnalogySet, PairSet, TripletSet
from evaluation.errors import BenchmarkFormatError, token
from evaluation.fast_triplets import parse_triplets_fast
from index.text import tokenize


def read_bytes(path: Path, *, checksum: bool = True) -> tuple[bytes, str]:
    """The file's bytes and their sha256 ("" if not `checksum`); a missing or unreadable file raises
    BenchmarkFormatError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise BenchmarkFormatError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise BenchmarkFormatError(path, "is a directory, expected a file") from exc
    except OSError as exc:
        raise BenchmarkFormatError(path, f"cannot read: {exc}") from exc
    return data, hashlib.sha256(data).hexdigest() if checksum else ""


def decode_lines(path: Path, data: bytes) -> list[str]:
    """UTF-8 text split into lines (without newline or trailing `\\r`)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchmarkFormatError(path, f"not valid UTF-8 ({exc.reason})", line) from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _skippable(line: str) -> bool:
    return not line.strip() or line.startswith("#")


def _check_term(path: Path, lineno: int, term: str, what: str) -> None:
    if not tokenize(term):
        raise BenchmarkFormatError(
            path, f"{what} {token(term)} has no word (no alphanumeric characters)", lineno
        )


def parse_triplets(path: Path, data: bytes, sha256: str) -> TripletSet:
    """The reference (line-by-line) triplet parser; `fast_triplets` must agree with it exactly."""
    index: dict[str, int] = {}
    ids: list[int] = []
    line_numbers: list[int] = []
    seen_content = False
    for lineno, line in enumerate(decode_lines(path, data), 1):
        if _skippable(line):
            continue
        fields = line.split("\t")
        if not seen_content:
            seen_content = True
            if tuple(f.strip().lower() for f in fields) == TRIPLET_HEADER:
                continue
        if len(fields) != 3:
            raise BenchmarkFormatError(
                path,
                f"expected 3 tab-separated fields (base, positive, negative), found {len(fields)}",
                lineno,
            )
        for field, what in zip(fields, TRIPLET_HEADER, strict=True):
            if field not in index:
                _check_term(path, lineno, field, what)
                index[field] = len(index)
            ids.append(index[field])
        line_numbers.append(lineno)
    return TripletSet(
        path=Path(path),
        sha256=sha256,
        phrases=list(index),
        ids=np.asarray(ids, dtype=np.int64).reshape(-1, 3),
        lines=np.asarray(line_numbers, dtype=np.int64),
    )


def read_triplets(path: Path | str) -> TripletSet:
    """Read a triplet file; big files take the vectorised parser, which defers to `parse_triplets` if odd."""
    path = Path(path)
    data, _ = read_bytes(path, checksum=False)
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashlib releases the GIL: checksum while parsing
        checksum = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        fast = parse_triplets_fast(path, data, "")
        parsed = fast if fast is not None else parse_triplets(path, data, "")
        return dataclasses.replace(parsed, sha256=checksum.result())


def _parse_score(path: Path, lineno: int, text: str) -> float:
    try:
        score = float(text)
    except ValueError as exc:
        raise BenchmarkFormatError(path, f"score {token(text)} is not a number", lineno) from exc
    if not math.isfinite(score):
        raise BenchmarkFormatError(path, f"score {token(text)} is not finite", lineno)
    return score


def read_pairs_tsv(path: Path | str, *, delimiter: str = "\t") -> PairSet:
    """gensim's word-pair format: `term1<TAB>term2<TAB>score`, `#` comment lines."""
    path = Path(path)
    data, sha256 = read_bytes(path)
    first: list[str] = []
    second: list[str] = []
    scores: list[float] = []
    line_numbers: list[int] = []
    for lineno, line in enumerate(decode_lines(path, data), 1):
        if _skippable(line):
            continue
        fields = line.split(delimiter)
        if len(fields) != 3:
            raise BenchmarkFormatError(
                path,
                f"expected 3 fields (term1, term2, score) separated by {delimiter!r}, found {len(fields)}",
                lineno,
            )
        _check_term(path, lineno, fields[0], "term1")
        _check_term(path, lineno, fields[1], "term2")
        scores.append(_parse_score(path, lineno, fields[2].strip()))
        first.append(fields[0])
        second.append(fields[1])
        line_numbers.append(lineno)
    return PairSet(path, sha256, first, second, np.asarray(scores), np.asarray(line_numbers, dtype=np.int64))


def read_pairs_csv(
    path: Path | str,
    *,
    word1: str = "word1",
    word2: str = "word2",
    score: str = "score",
    delimiter: str = ",",
) -> PairSet:
    """CSV (RFC 4180 quoting) with a header row; `word1`, `word2`, `score` name the columns to use."""
    path = Path(path)
    data, sha256 = read_bytes(path)
    text = "\n".join(decode_lines(path, data))
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    first: list[str] = []
    second: list[str] = []
    scores: list[float] = []
    line_numbers: list[int] = []
    columns: tuple[int, int, int] | None = None
    width = 0
    try:
        for row in reader:
            lineno = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
                continue
            if columns is None:
                header = [name.strip() for name in row]
                missing = [name for name in (word1, word2, score) if name not in header]
                if missing:
                    raise BenchmarkFormatError(
                        path,
                        f"header row ({len(header)} columns) lacks column(s) {missing} "
                        "(set the column names in the options)",
                        lineno,
                    )
                columns = (header.index(word1), header.index(word2), header.index(score))
                width = len(header)
                continue
            if len(row) != width:
                raise BenchmarkFormatError(
                    path, f"expected {width} fields as in the header, found {len(row)}", lineno
                )
            a, b, s = (row[c] for c in columns)
            if not (a.strip() or b.strip() or s.strip()):  # a row with only an index (",,," lines)
                continue
            _check_term(path, lineno, a, word1)
            _check_term(path, lineno, b, word2)
            scores.append(_parse_score(path, lineno, s.strip()))
            first.append(a)
            second.append(b)
            line_numbers.append(lineno)
    except csv.Error as exc:
        raise BenchmarkFormatError(path, f"malformed CSV: {exc}", reader.line_num) from exc
    if columns is None:
        raise BenchmarkFormatError(path, "empty file: expected a header row naming the columns")
    return PairSet(path, sha256, first, second, np.asarray(scores), np.asarray(line_numbers, dtype=np.int64))


def read_analogies(path: Path | str) -> AnalogySet:
    """gensim's questions-words format: `: section` header lines, then four words per line."""
    path = Path(path)
    data, sha256 = read_bytes(path)
    sections: list[str] = []
    questions: list[tuple[str, str, str, str]] = []
    section_of: list[int] = []
    line_numbers: list[int] = []
    for lineno, line in enumerate(decode_lines(path, data), 1):
        if _skippable(line):
            continue
        if line.startswith(":"):
            name = line[1:].strip()
            if not name:
                raise BenchmarkFormatError(path, "section line ': NAME' has no name", lineno)
            sections.append(name)
            continue
        if not sections:
            raise BenchmarkFormatError(path, "question before the first ': section' line", lineno)
        words = line.split()
        if len(words) != 4:
            raise BenchmarkFormatError(path, f"expected 4 words 'a b c d', found {len(words)}", lineno)
        questions.append((words[0], words[1], words[2], words[3]))
        section_of.append(len(sections) - 1)
        line_numbers.append(lineno)
    return AnalogySet(
        path,
        sha256,
        sections,
        questions,
        np.asarray(section_of, dtype=np.int64),
        np.asarray(line_numbers, dtype=np.int64),
    )
