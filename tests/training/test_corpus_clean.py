"""Each cleaning rule of the paper, on real caption lines."""

from __future__ import annotations

from training.corpus.clean import CleanOptions, CleanStats, clean_sentences, overlap_ratio
from training.corpus.prepare import auto_min_count, split_of
from training.corpus.records import Record


def test_lowercase_and_non_alphanumerics_removed() -> None:
    stats = CleanStats()
    kept = clean_sentences(
        ["A black dog and a tri-colored dog playing with each other on the road ."], CleanOptions(), stats
    )
    assert kept == [
        [
            "a",
            "black",
            "dog",
            "and",
            "a",
            "tri",
            "colored",
            "dog",
            "playing",
            "with",
            "each",
            "other",
            "on",
            "the",
            "road",
        ]
    ]
    assert stats.tokens_in == stats.tokens_out == 15


def test_sentences_under_min_words_dropped() -> None:
    stats = CleanStats()
    raw = ["A coral trout.", "A girl going into a wooden building .", "!!!", "Dogs playing"]
    kept = clean_sentences(raw, CleanOptions(min_words=4), stats)
    assert kept == [["a", "girl", "going", "into", "a", "wooden", "building"]]
    assert stats.empty_dropped_sentences == 1
    assert (stats.min_words_dropped_sentences, stats.min_words_dropped_tokens) == (2, 5)
    assert clean_sentences(["A coral trout."], CleanOptions(min_words=1), CleanStats()) == [
        ["a", "coral", "trout"]
    ]


def test_near_duplicates_of_the_same_image_dropped() -> None:
    assert overlap_ratio({"a", "dog"}, {"a", "dog"}) == 1.0
    assert (
        overlap_ratio({"a", "dog", "runs", "on", "the", "beach"}, {"a", "dog", "runs", "on", "beach"})
        == 5 / 6
    )
    raw = [
        "A dog runs on the beach.",
        "A dog runs on a beach!",  # overlap 5/6 with the first: dropped at 0.8
        "A DOG RUNS ON THE BEACH",  # exact duplicate after normalisation
        "A brown dog is running along the sand .",
    ]
    stats = CleanStats()
    kept = clean_sentences(raw, CleanOptions(min_words=4, dedup_threshold=0.8), stats)
    assert [" ".join(k) for k in kept] == ["a dog runs on the beach", "a brown dog is running along the sand"]
    assert (stats.near_duplicate_dropped_sentences, stats.near_duplicate_dropped_tokens) == (2, 12)
    # a stricter threshold keeps the rewording; no dedup keeps everything
    assert len(clean_sentences(raw, CleanOptions(dedup_threshold=0.9), CleanStats())) == 3
    assert len(clean_sentences(raw, CleanOptions(dedup_threshold=None), CleanStats())) == 4


def test_empty_records_and_truncation_counted() -> None:
    stats = CleanStats()
    assert clean_sentences(["Two words"], CleanOptions(), stats) == []
    assert (stats.records_in, stats.records_out, stats.empty_records_dropped) == (1, 0, 1)
    kept = clean_sentences(["one two three four five six"], CleanOptions(max_words=4), stats)
    assert kept == [["one", "two", "three", "four"]] and stats.truncated_tokens == 2


def test_auto_min_count_scales_from_the_paper() -> None:
    assert auto_min_count(3_000_000_000) == 50
    assert auto_min_count(30_000_000_000) == 50
    assert auto_min_count(30_000_000) == 5
    assert auto_min_count(500_000) == 2


def test_split_is_by_image_and_stable() -> None:
    record = Record(sentences=["x"], image_id="1000268201_693b08cb0e.jpg")
    splits = {split_of(Record(sentences=[], image_id=f"img{i}"), 0.2, "train") for i in range(200)}
    assert splits == {"train", "val"}
    assert len({split_of(record, 0.2, "train") for _ in range(5)}) == 1
    assert split_of(Record(sentences=[], image_id="a", split="test"), 0.5, "train") == "test"
    assert split_of(Record(sentences=[], key="wordnet:1"), 1.0, "train") == "train"
    assert split_of(Record(sentences=[], key="wordnet:1"), 1.0, "hash") == "val"
