"""The chunked, threaded fast triplet parser: the reference parser's triplets, or None to defer to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation import fast_triplets, read_triplets
from evaluation.datasets import TripletSet
from evaluation.fast_triplets import _chunk_bounds, parse_triplets_fast
from evaluation.readers import parse_triplets

WORDS = ["cat", "dog", "hot-dog", "x", "a" * 20, "reallylongwordnumber7", "Ünïcode", "béta"]


def _phrases(n: int, seed: int = 0, ascii_only: bool = False) -> list[str]:
    """`n` phrases of 1-20 words (some repeated), 1 to a few hundred bytes: every hashing path is used."""
    rng = np.random.default_rng(seed)
    words = WORDS[:-2] if ascii_only else WORDS
    out = []
    for i in range(n):
        size = int(rng.choice([1, 1, 2, 3, 5, 12, 20]))  # <= 20 * 22 bytes
        out.append(" ".join(rng.choice(words, size=size)) + f" {i % 50}")
    return out


def _text(lines: int, seed: int = 0, phrases: int = 300, ascii_only: bool = False) -> str:
    rng = np.random.default_rng(seed)
    pool = _phrases(phrases, seed, ascii_only)
    rows = rng.integers(0, len(pool), (lines, 3))
    return "\n".join("\t".join(pool[i] for i in row) for row in rows) + "\n"


def _field_phrases(triplets: TripletSet) -> list[list[str]]:
    phrases = np.asarray(triplets.phrases, dtype=object)
    return phrases[triplets.ids].tolist()  # type: ignore[no-any-return]


def _parse(data: bytes, **options: int) -> TripletSet | None:
    return parse_triplets_fast(Path("t.tsv"), data, "sha", **options)


def _assert_same_as_reference(data: bytes, **options: int) -> TripletSet:
    fast = _parse(data, **options)
    slow = parse_triplets(Path("t.tsv"), data, "sha")
    assert fast is not None, "expected the fast path"
    assert _field_phrases(fast) == _field_phrases(slow)
    assert fast.lines.tolist() == slow.lines.tolist()
    assert sorted(fast.phrases) == sorted(slow.phrases)  # each phrase once
    assert fast.sha256 == "sha" and fast.ids.dtype == np.int64
    return fast


@pytest.fixture(autouse=True)
def _small_files_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_triplets, "MIN_LINES", 1)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [64, 1000, 1 << 20])
@pytest.mark.parametrize("ascii_only", [False, True])
def test_any_threads_and_chunking_give_the_reference_triplets(
    threads: int, chunk_bytes: int, ascii_only: bool
) -> None:
    data = ("base\tpositive\tnegative\n" + _text(700, ascii_only=ascii_only)).encode("utf-8")
    _assert_same_as_reference(data, threads=threads, chunk_bytes=chunk_bytes)


def test_ids_do_not_depend_on_threads_or_timing() -> None:
    data = _text(3000, seed=1).encode("utf-8")
    runs = [_parse(data, threads=t, chunk_bytes=2000) for t in (1, 2, 2, 4)]
    assert all(r is not None for r in runs)
    first = runs[0]
    assert first is not None
    for run in runs[1:]:
        assert run is not None and run.phrases == first.phrases and np.array_equal(run.ids, first.ids)


@pytest.mark.parametrize(
    "transform",
    [
        lambda t: t.rstrip("\n"),  # no final newline
        lambda t: t.replace("\n", "\r\n"),  # CRLF
        lambda t: t.replace("\n", "\r\n").rstrip("\r\n"),  # CRLF, no final newline
        lambda t: t.replace("\n", "\r\n").rstrip("\n"),  # CRLF, the last line ends with a lone CR
        lambda t: " Base \tPOSITIVE\tnegative\r\n" + t,  # header, any case and spacing
        lambda t: t.replace("\t", "\r\t", 5),  # a CR inside a line is part of its field
        lambda t: t.replace(" ", "\x0b", 40),  # control bytes above 10 are ordinary characters
    ],
)
def test_line_ends_headers_and_odd_bytes(transform: object) -> None:
    text = transform(_text(400, seed=2))  # type: ignore[operator]
    for chunk_bytes in (50, 1 << 20):
        _assert_same_as_reference(text.encode("utf-8"), threads=2, chunk_bytes=chunk_bytes)


def test_a_single_line_without_newline() -> None:
    fast = _assert_same_as_reference(b"cat\tdog\tcar")
    assert fast.phrases == ["cat", "dog", "car"] and fast.lines.tolist() == [1]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cat\tdog\tcar\n\ncat\tdog\tcar\n",  # blank line
        "cat\tdog\tcar\n#comment\tx\ty\n",  # comment line
        "cat\tdog\tcar\ncat\tdog\n",  # two fields
        "cat\tdog\tcar\ncat\tdog\tcar\tcow\n",  # four fields
        "cat\tdog\tcar\ncat\t\tcar\n",  # empty field
        "cat\tdog\tcar\ncat\tdog\x01\tcar\n",  # control byte
        "cat\tdog\tcar\ncat\t--\tcar\n",  # a phrase without a word
        "cat\tdog\tcar\ncat\tdog\t\r\n",  # the third field is only the line's CR: empty
        "cat\tdog\tcar\n" + "cat\t" + "w " * 300 + "\tcar\n",  # a field over MAX_FIELD_BYTES
        "cat\tdog\tcar\ncat\td\xffg\tcar\n",  # invalid UTF-8 (written as latin-1 below)
        "base\tpositive\tnegative\n",  # only a header
    ],
)
def test_anything_unusual_is_left_to_the_reference(text: str) -> None:
    data = text.encode("latin-1" if "\xff" in text else "utf-8")
    for chunk_bytes in (8, 1 << 20):
        assert _parse(data, threads=2, chunk_bytes=chunk_bytes) is None


def test_unusual_lines_deep_in_the_file_defer_and_errors_stay_exact(tmp_path: Path) -> None:
    lines = _text(2000, seed=3).split("\n")
    for bad, message in [("a\tb", "line 1501: expected 3 tab-separated fields"), ("a\t--\tb", "line 1501")]:
        changed = [*lines[:1500], bad, *lines[1500:]]
        data = "\n".join(changed).encode("utf-8")
        assert _parse(data, threads=2, chunk_bytes=4096) is None
        path = tmp_path / "t.tsv"
        path.write_bytes(data)
        with pytest.raises(Exception, match=message):
            read_triplets(path)


def test_fewer_than_min_lines_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("base\tpositive\tnegative\n" + _text(9)).encode("utf-8")
    monkeypatch.setattr(fast_triplets, "MIN_LINES", 11)
    assert _parse(data) is None
    monkeypatch.setattr(fast_triplets, "MIN_LINES", 10)  # the header line counts
    assert _parse(data) is not None


def test_a_key_collision_defers_to_the_exact_parser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = fast_triplets.field_keys

    def colliding(*args: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys, first, last = real(*args)  # type: ignore[arg-type]
        return np.zeros_like(keys), first, last  # every field gets the same key

    data = _text(300).encode("utf-8")
    monkeypatch.setattr(fast_triplets, "field_keys", colliding)
    assert _parse(data) is None
    path = tmp_path / "t.tsv"
    path.write_bytes(data)
    assert _field_phrases(read_triplets(path)) == _field_phrases(parse_triplets(path, data, ""))


def test_a_failing_worker_raises_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken(*args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("boom")
        return real(*args)  # type: ignore[arg-type,no-any-return]

    real = fast_triplets.field_keys
    monkeypatch.setattr(fast_triplets, "field_keys", broken)
    with pytest.raises(MemoryError, match="boom"):
        _parse(_text(2000).encode("utf-8"), threads=2, chunk_bytes=1000)


def test_chunk_bounds_are_whole_lines() -> None:
    data = b"a\tb\tc\n" * 10 + b"x\ty\tz"
    bounds = _chunk_bounds(data, 13)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    assert all(data[end - 1 : end] == b"\n" for _, end in bounds[:-1])
    assert _chunk_bounds(b"", 10) == []
