"""`python -m training prepare` end to end on real captions in JSONL: shards, vocab, split, re-runs, parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.corpus import BOS, UNK, PreparedCorpus
from training.__main__ import main

CAPTIONS = {
    "1000268201_693b08cb0e.jpg": [
        "A child in a pink dress is climbing up a set of stairs in an entry way .",
        "A girl going into a wooden building .",
        "A little girl climbing into a wooden playhouse .",
        "A little girl climbing the stairs to her playhouse .",
        "A little girl in a pink dress going into a wooden cabin .",
    ],
    "1001773457_577c3a7d70.jpg": [
        "A black dog and a spotted dog are fighting",
        "A black dog and a tri-colored dog playing with each other on the road .",
        "A black dog and a white dog with brown spots are staring at each other in the street .",
        "Two dogs of different breeds looking at each other on the road .",
        "Two dogs on pavement moving toward each other .",
    ],
    "1002674143_1b742ab4b8.jpg": [
        "A little girl covered in paint sits in front of a painted rainbow with her hands in a bowl .",
        "A little girl is sitting in front of a large painted rainbow .",
        "A small girl in the grass plays with fingerpaints in front of a white canvas with a rainbow on it .",
        "There is a girl with pigtails sitting in front of a rainbow painting .",
        "Young girl with pigtails painting outside in the grass .",
    ],
}


def write_jsonl(path: Path, copies: int = 1) -> None:
    with open(path, "w") as f:
        for c in range(copies):
            for image, sentences in CAPTIONS.items():
                f.write(json.dumps({"image": image, "id": f"{c}-{image}", "sentences": sentences}) + "\n")
            f.write(
                json.dumps({"image": None, "sentences": ["A dog is a member of the genus Canis ."]}) + "\n"
            )
        f.write("{broken\n")


def prepare(*args: str) -> int:
    return main(["prepare", "--quiet", "--workers", "1", *args])


def test_prepare_jsonl_writes_a_readable_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src, copies=20)
    out = tmp_path / "corpus"
    assert prepare("--jsonl", str(src), "--out", str(out), "--min-count", "2", "--val-fraction", "0.3") == 0
    corpus = PreparedCorpus(out)
    m = corpus.manifest
    assert corpus.words[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert corpus.counts[BOS] == m["num_sentences"] == m["steps"]["sentences_out"]
    assert m["steps"]["records_in"] == 80 and m["malformed"]["count"] == 1
    assert m["steps"]["sentences_in"] == 20 * 16
    # split by image: every image's sentences sit in one split, and both splits are used
    images = corpus.image_ids()
    assert len(images) == 60 == m["num_images"]
    seen: dict[int, set[str]] = {}
    total = 0
    for split in ("train", "val"):
        for ids, number in corpus.sentences(split):
            total += 1
            assert len(ids) >= 4 and (ids >= 0).all() and (ids < corpus.vocab_size).all()
            seen.setdefault(number, set()).add(split)
    assert total == m["num_sentences"]
    assert all(len(s) == 1 for s in seen.values())
    assert {"train", "val"} <= {s for v in seen.values() for s in v}
    # text-only sentences carry image -1 and stay in train by default
    assert -1 in seen and seen[-1] == {"train"}
    # decoding gives back the cleaned words
    first, number = next(corpus.sentences("train"))
    words = [corpus.words[i] for i in first]
    assert images[number].endswith(".jpg") and words[0] == "a"
    assert (out / "malformed.tsv").read_text().startswith(f"{src}\t81\t")
    vocab_sorted = corpus.counts[4:]
    assert (np.diff(vocab_sorted) <= 0).all()


def test_prepare_rerun_is_a_noop_and_force_rebuilds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src)
    out = tmp_path / "corpus"
    assert prepare("--jsonl", str(src), "--out", str(out), "--min-count", "1") == 0
    before = (out / "manifest.json").read_text()
    capsys.readouterr()
    assert prepare("--jsonl", str(src), "--out", str(out), "--min-count", "1") == 0
    assert "up to date" in capsys.readouterr().out
    assert (out / "manifest.json").read_text() == before
    assert prepare("--jsonl", str(src), "--out", str(out), "--min-count", "3") == 0
    assert PreparedCorpus(out).manifest["min_count"] == 3
    assert PreparedCorpus(out).counts[UNK] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".corpus")]


def test_failed_prepare_leaves_the_previous_corpus(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src)
    out = tmp_path / "corpus"
    assert prepare("--jsonl", str(src), "--out", str(out)) == 0
    before = (out / "manifest.json").read_text()
    assert prepare("--jsonl", str(tmp_path / "missing.jsonl"), "--out", str(out), "--force") == 1
    assert (out / "manifest.json").read_text() == before


def test_parts_merge_equals_a_single_run(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src, copies=7)
    single, merged = tmp_path / "single", tmp_path / "merged"
    common = ["--jsonl", str(src), "--min-count", "2", "--val-fraction", "0.3"]
    assert prepare(*common, "--out", str(single)) == 0
    assert prepare(*common, "--out", str(merged), "--num-shards", "3", "--merge") == 1  # parts not there yet
    for i in range(3):
        assert prepare(*common, "--out", str(merged), "--num-shards", "3", "--shard-index", str(i)) == 0
    assert prepare(*common, "--out", str(merged), "--num-shards", "3", "--merge") == 0
    a, b = PreparedCorpus(single), PreparedCorpus(merged)
    assert a.words == b.words and (a.counts == b.counts).all()
    assert a.manifest["steps"] == b.manifest["steps"]
    for split in ("train", "val"):
        sa = sorted(tuple(ids.tolist()) for ids, _ in a.sentences(split))
        sb = sorted(tuple(ids.tolist()) for ids, _ in b.sentences(split))
        assert sa == sb


def test_prepare_with_two_workers_matches_one(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src, copies=5)
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["prepare", "--quiet", "--workers", "1", "--jsonl", str(src), "--out", str(one)]) == 0
    assert main(["prepare", "--quiet", "--workers", "2", "--jsonl", str(src), "--out", str(two)]) == 0
    for name in ("vocab.tsv", "images.tsv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    for name in sorted(p.name for p in (one / "train").iterdir()):
        assert (one / "train" / name).read_bytes() == (two / "train" / name).read_bytes()


def test_small_shards_roll_over(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    write_jsonl(src, copies=5)
    out = tmp_path / "corpus"
    assert (
        prepare("--jsonl", str(src), "--out", str(out), "--shard-tokens", "100", "--val-fraction", "0") == 0
    )
    corpus = PreparedCorpus(out)
    assert len(corpus.shard_paths("train")) > 3
    assert sum(1 for _ in corpus.sentences("train")) == corpus.manifest["num_sentences"]
    for shard in corpus.shards("train"):
        assert shard.offsets[-1] == len(shard.tokens)
    assert (out / "val" / "tokens-00000.bin").exists() and list(corpus.sentences("val")) == []
    assert not (out / "test").exists()
