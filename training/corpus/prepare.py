"""Streaming corpus preparation: records -> cleaned sentences (part) -> vocabulary + token-id shards (corpus).

Two stages, both streaming (memory grows with the vocabulary, never with the number of sentences):

1. `collect_part` reads the sources (every `num_shards`-th record from `shard_index`), cleans records on
   `workers` processes, and writes a *part* folder: `cleaned.tsv` (one record per line:
   split, image id, image, sentences as space-joined tokens), `counts.tsv` (word counts), `phrases.tsv`,
   `malformed.tsv` and `manifest.json` (format `mmwe.corpus-part`) with the cleaning counts.
2. `write_corpus` sums the parts' counts, picks the vocabulary by minimum count, and maps the parts' sentences
   to token ids on `workers` processes into an `mmwe.corpus` directory (docs/formats.md §2).

Several machines can each run stage 1 on their own `--shard-index` and one merge runs stage 2.
CLI: `python -m training prepare --help` (training/corpus/prepare_cli.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from index.artifacts import read_manifest, sha256_file, utc_now, write_manifest, write_vocab
from index.corpus import (
    CORPUS_FORMAT,
    CORPUS_VERSION,
    IMAGES_FILE,
    PHRASES_FILE,
    SPECIALS,
    UNK,
    VOCAB_FILE,
    ShardWriter,
)
from index.text import normalize_phrase
from training.corpus.clean import CleanOptions, CleanStats, clean_sentences
from training.corpus.records import SPLITS, Problems, Record
from training.corpus.sources import SourceSpec, iter_records

T = TypeVar("T")
R = TypeVar("R")
PART_FORMAT = "mmwe.corpus-part"
PART_VERSION = 1
CHUNK_RECORDS = 2000
PAPER_MIN_COUNT = 50
PAPER_TOKENS = 3_000_000_000


def auto_min_count(num_tokens: int) -> int:
    """The paper's min-count 50 at 3B tokens, scaled by sqrt(tokens / 3B), clipped to [2, 50].

    Flickr8k-sized corpora (~0.5M tokens) get 2, 30M tokens get 5, 300M get 16.
    """
    scaled = PAPER_MIN_COUNT * math.sqrt(max(num_tokens, 0) / PAPER_TOKENS)
    return int(min(PAPER_MIN_COUNT, max(2, round(scaled))))


def split_of(record: Record, val_fraction: float, text_split: str) -> str:
    """The record's split: the source's own, else `train` for text-only records when `text_split == "train"`,
    else a stable hash of the record key (`val` for a `val_fraction` share of keys)."""
    if record.split:
        return record.split
    if record.image_id is None and text_split == "train":
        return "train"
    digest = hashlib.blake2b(record.key.encode("utf-8"), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "little") / 2.0**64 < val_fraction else "train"


def _field(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


# ----------------------------------------------------------------------------------------------- stage 1
_clean_ctx: dict[str, Any] = {}


def _init_clean(options: CleanOptions, val_fraction: float, text_split: str) -> None:
    _clean_ctx.update(options=options, val_fraction=val_fraction, text_split=text_split)


def _clean_chunk(chunk: list[Record]) -> tuple[list[str], CleanStats, Counter[str], Counter[str]]:
    options: CleanOptions = _clean_ctx["options"]
    stats = CleanStats()
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    lines: list[str] = []
    for record in chunk:
        for phrase in record.phrases:
            if len(norm := normalize_phrase(phrase).split()) > 1:
                phrases[" ".join(norm)] += 1
        kept = clean_sentences(record.sentences, options, stats)
        if not kept:
            continue
        for tokens in kept:
            words.update(tokens)
        split = split_of(record, _clean_ctx["val_fraction"], _clean_ctx["text_split"])
        image_id = _field(record.image_id) if record.image_id is not None else ""
        sentences = "\t".join(" ".join(t) for t in kept)
        lines.append(f"{split}\t{image_id}\t{_field(record.image)}\t{sentences}\n")
    return lines, stats, words, phrases


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _select(records: Iterator[Record], shard_index: int, num_shards: int) -> Iterator[Record]:
    for i, record in enumerate(records):
        if i % num_shards == shard_index:
            yield record


def _ordered_map(pool: Any, func: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """`func` over `items` on `pool` (or here, when None), in order, with at most `ahead` items in flight.

    Unlike `Pool.imap`, which reads its whole input as fast as it can, this keeps memory bounded when the
    reader is faster than the workers.
    """
    if pool is None:
        yield from map(func, items)
        return
    pending: deque[Any] = deque()
    for item in items:
        pending.append(pool.apply_async(func, (item,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _pool(workers: int, initializer: Any, initargs: tuple[Any, ...]) -> Any:
    """A process pool, or None to run in this process (workers <= 1)."""
    if workers <= 1:
        initializer(*initargs)
        return None
    return multiprocessing.get_context("fork").Pool(workers, initializer=initializer, initargs=initargs)


def collect_part(
    part_dir: Path,
    sources: list[SourceSpec],
    options: CleanOptions,
    *,
    val_fraction: float = 0.05,
    text_split: str = "train",
    shard_index: int = 0,
    num_shards: int = 1,
    workers: int = 2,
    fingerprint: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Stage 1 into the (empty, temporary) folder `part_dir`; return its manifest."""
    problems = Problems()
    stats = CleanStats()
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    split_records = dict.fromkeys(SPLITS, 0)
    records = _select(iter_records(sources, problems), shard_index, num_shards)
    pool = _pool(workers, _init_clean, (options, val_fraction, text_split))
    bar = tqdm(desc=f"clean part {shard_index}/{num_shards}", unit=" records", disable=not progress)
    try:
        chunks = _chunks(records, CHUNK_RECORDS)
        results = _ordered_map(pool, _clean_chunk, chunks, ahead=2 * workers)
        with open(part_dir / "cleaned.tsv", "w", encoding="utf-8") as out:
            for lines, chunk_stats, chunk_words, chunk_phrases in results:
                out.writelines(lines)
                for line in lines:
                    split_records[line.split("\t", 1)[0]] += 1
                stats.add(chunk_stats)
                words.update(chunk_words)
                phrases.update(chunk_phrases)
                bar.update(chunk_stats.records_in)
                bar.set_postfix(sentences=stats.sentences_out, malformed=problems.count, refresh=False)
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    _write_counts(part_dir / "counts.tsv", words)
    _write_counts(part_dir / "phrases.tsv", phrases)
    problems.write_tsv(part_dir / "malformed.tsv")
    manifest = {
        "format": PART_FORMAT,
        "version": PART_VERSION,
        "created_at": utc_now(),
        "fingerprint": fingerprint,
        "shard_index": shard_index,
        "num_shards": num_shards,
        "sources": [s.to_json() for s in sources],
        "cleaning": asdict(options),
        "stats": stats.to_json(),
        "records_per_split": split_records,
        "malformed": problems.to_json(),
        "num_phrases": len(phrases),
    }
    write_manifest(part_dir, manifest)
    return manifest


def _write_counts(path: Path, counts: Counter[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for word, count in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])):
            f.write(f"{word}\t{count}\n")


def _read_counts(path: Path, into: Counter[str]) -> None:
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, count = line.rstrip("\n").rpartition("\t")
            into[word] += int(count)


def read_part(part_dir: Path) -> dict[str, Any]:
    return read_manifest(part_dir, PART_FORMAT, PART_VERSION)


# ----------------------------------------------------------------------------------------------- stage 2
_map_ctx: dict[str, Any] = {}


def _init_map(words: list[str]) -> None:
    _map_ctx["index"] = {w: i for i, w in enumerate(words)}


MappedRecord = tuple[str, str, str, np.ndarray, np.ndarray]


def _map_lines(lines: list[str]) -> list[MappedRecord]:
    """Token ids for a batch of cleaned.tsv lines: (split, image id, image, ids int32, lengths int64)."""
    index: dict[str, int] = _map_ctx["index"]
    out: list[MappedRecord] = []
    for line in lines:
        split, image_id, image, *sentences = line.rstrip("\n").split("\t")
        ids: list[int] = []
        lengths: list[int] = []
        for sentence in sentences:
            tokens = sentence.split()
            ids.extend(index.get(t, UNK) for t in tokens)
            lengths.append(len(tokens))
        out.append((split, image_id, image, np.asarray(ids, dtype="<i4"), np.asarray(lengths, dtype="<i8")))
    return out


def _line_batches(paths: list[Path], size: int = 5000) -> Iterator[list[str]]:
    batch: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                batch.append(line)
                if len(batch) == size:
                    yield batch
                    batch = []
    if batch:
        yield batch


def merge_parts(
    part_dirs: list[Path],
) -> tuple[list[dict[str, Any]], CleanStats, Counter[str], Counter[str], Problems]:
    """Read every part's manifest and counts; check they form one complete set of shards."""
    manifests = [read_part(p) for p in part_dirs]
    totals = {m["num_shards"] for m in manifests}
    indices = sorted(m["shard_index"] for m in manifests)
    if len(totals) != 1 or indices != list(range(totals.pop())):
        raise ValueError(
            f"parts {[str(p) for p in part_dirs]} are not shards 0..n-1 of one run (found {indices})"
        )
    stats = CleanStats()
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    problems = Problems()
    for part, manifest in zip(part_dirs, manifests, strict=True):
        stats.add(CleanStats(**manifest["stats"]))
        _read_counts(part / "counts.tsv", words)
        _read_counts(part / "phrases.tsv", phrases)
        mal = manifest["malformed"]
        problems.merge(Problems.read_tsv(part / "malformed.tsv", mal["count"], mal["by_reason"]))
    return manifests, stats, words, phrases, problems


def write_corpus(
    out_dir: Path,
    part_dirs: list[Path],
    *,
    min_count: int | None = None,
    workers: int = 2,
    shard_tokens: int = 50_000_000,
    fingerprint: str = "",
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Stage 2 into the (empty, temporary) folder `out_dir`; return the corpus manifest."""
    manifests, stats, counts, phrases, problems = merge_parts(part_dirs)
    chosen = min_count if min_count is not None else auto_min_count(stats.tokens_out)
    kept = sorted(((w, c) for w, c in counts.items() if c >= chosen), key=lambda wc: (-wc[1], wc[0]))
    unk_tokens = sum(c for c in counts.values() if c < chosen)
    n_sent = stats.sentences_out
    words = [*SPECIALS, *(w for w, _ in kept)]
    write_vocab(out_dir / VOCAB_FILE, words, [0, unk_tokens, n_sent, n_sent, *(c for _, c in kept)])
    # train/ and val/ always exist (maybe empty); other splits (test/) only when a source has them
    writers = {split: ShardWriter(out_dir / split, shard_tokens) for split in ("train", "val")}
    split_counts = {split: {"num_records": 0, "num_images": 0} for split in writers}
    image_number = 0
    pool = _pool(workers, _init_map, (words,))
    bar = tqdm(total=stats.records_out, desc="write shards", unit=" records", disable=not progress)
    try:
        batches = _line_batches([p / "cleaned.tsv" for p in part_dirs])
        results = _ordered_map(pool, _map_lines, batches, ahead=2 * workers)
        with open(out_dir / IMAGES_FILE, "w", encoding="utf-8") as images:
            for mapped in results:
                for split, image_id, image, ids, lengths in mapped:
                    if split not in writers:
                        writers[split] = ShardWriter(out_dir / split, shard_tokens)
                        split_counts[split] = {"num_records": 0, "num_images": 0}
                    number = -1
                    if image_id:
                        number = image_number
                        images.write(f"{number}\t{image_id}\t{image}\n")
                        image_number += 1
                        split_counts[split]["num_images"] += 1
                    split_counts[split]["num_records"] += 1
                    writers[split].add_batch(ids, lengths, number)
                bar.update(len(mapped))
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    splits: dict[str, Any] = {}
    for split, writer in writers.items():
        info = writer.close()
        splits[split] = {**split_counts[split], **info}
    if phrases:
        _write_counts(out_dir / PHRASES_FILE, phrases)
    if problems.count:
        problems.write_tsv(out_dir / "malformed.tsv")
    files = [name for name in (VOCAB_FILE, IMAGES_FILE, PHRASES_FILE) if (out_dir / name).exists()]
    manifest: dict[str, Any] = {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "created_at": utc_now(),
        "fingerprint": fingerprint,
        "sources": manifests[0]["sources"],
        "options": options or {},
        "cleaning": manifests[0]["cleaning"],
        "steps": {
            **stats.to_json(),
            "vocab_min_count": chosen,
            "vocab_words_seen": len(counts),
            "vocab_words_below_min_count": len(counts) - len(kept),
            "vocab_unk_tokens": unk_tokens,
        },
        "malformed": problems.to_json(),
        "splits": splits,
        "num_images": image_number,
        "num_sentences": n_sent,
        "num_tokens": stats.tokens_out,
        "vocab_size": len(words),
        "min_count": chosen,
        "num_phrases": len(phrases),
        "shards": {split: sorted(p.name for p in (out_dir / split).glob("*.bin")) for split in writers},
        "num_prepare_shards": len(part_dirs),
        "files": {name: sha256_file(out_dir / name) for name in files},
    }
    write_manifest(out_dir, manifest)
    return manifest


def fingerprint_of(sources: list[SourceSpec], settings: dict[str, Any]) -> str:
    """A hash of the sources (paths, sizes, mtimes) and every setting that changes the output."""
    blob = json.dumps({"sources": [s.to_json() for s in sources], "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
