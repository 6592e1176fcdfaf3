"""Triplets from photo captions: positives from the same photo, negatives from another, deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.image_triplets import caption_terms, read_flickr8k_captions, triplets_from_captions

CAPTIONS = {
    "dog.jpg": [
        "A brown dog runs on the beach .",
        "The dog plays in the sand",
        "a puppy near the ocean waves",
    ],
    "car.jpg": ["A red car drives down a street", "a racing car on the track", "red vehicle speeding"],
    "kid.jpg": ["A child eats ice cream", "a little girl with an ice cream cone", "kid licking dessert"],
    "one.jpg": ["only one caption here"],
}


def test_terms_are_content_words_or_adjacent_pairs() -> None:
    assert caption_terms("A brown dog runs on the beach .", 1, None, {"a", "on", "the"}) == [
        "brown", "dog", "runs", "beach",
    ]  # fmt: skip
    assert caption_terms("A brown dog runs on the beach", 2, None, {"a", "on", "the"}) == [
        "brown dog", "dog runs",
    ]  # fmt: skip
    assert caption_terms("brown dog runs", 1, {"dog"}, set()) == ["dog"]  # vocabulary filter


@pytest.mark.parametrize("phrase_words", [1, 2])
def test_positives_share_the_photo_and_negatives_come_from_elsewhere(phrase_words: int) -> None:
    triplets, stats = triplets_from_captions(CAPTIONS, per_image=4, phrase_words=phrase_words, seed=3)
    assert triplets and stats.triplets == len(triplets)
    words_of = {
        img: {w for c in caps for w in caption_terms(c, 1, None, set())} for img, caps in CAPTIONS.items()
    }
    for base, positive, negative in triplets:
        photo = next(img for img, caps in CAPTIONS.items() if any(base in c.lower() for c in caps))
        assert set(positive.split()) <= words_of[photo]
        assert not set(base.split()) & set(positive.split())
        assert not set(negative.split()) & words_of[photo]  # nothing any caption of the photo says
        assert len(base.split()) == len(positive.split()) == len(negative.split()) == phrase_words
    assert len(set(triplets)) == len(triplets)
    assert not any(b in " ".join(CAPTIONS["one.jpg"]) for b, _, _ in triplets)  # one caption: no pair


def test_same_seed_same_triplets_other_seed_differs() -> None:
    a, _ = triplets_from_captions(CAPTIONS, seed=0)
    b, _ = triplets_from_captions(dict(reversed(list(CAPTIONS.items()))), seed=0)
    c, _ = triplets_from_captions(CAPTIONS, seed=1)
    assert a == b and a != c


def test_reads_flickr8k_captions_of_the_listed_images(tmp_path: Path) -> None:
    tokens = tmp_path / "Flickr8k.token.txt"
    tokens.write_text("a.jpg#0\ta dog\na.jpg#1\ta puppy\nb.jpg#0\ta car\n", encoding="utf-8")
    listed = tmp_path / "test.txt"
    listed.write_text("a.jpg\n", encoding="utf-8")
    assert read_flickr8k_captions(tokens, listed) == {"a.jpg": ["a dog", "a puppy"]}
