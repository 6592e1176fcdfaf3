"""Every corpus reader on small real samples (lines copied from the real releases) and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.corpus.demo import parse_wordnet_line, read_tuxpaint, read_wordnet, wordnet_sentences
from training.corpus.readers import read_coco, read_flickr8k, read_jsonl, read_pinterest
from training.corpus.records import Problems

# Real lines of WordNet 3.0 data.noun / data.adj.
WN_HOTDOG = (
    "07697537 13 n 03 hotdog 2 hot_dog 2 red_hot 0 004 @ 07695965 n 0000 %p 07676602 n 0000 "
    "%p 07690019 n 0000 ~ 07865105 n 0000 | a frankfurter served hot on a bun  "
)
WN_DOG = (
    "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 002 @ 02083346 n 0000 #m 02083863 n 0000 "
    "| a member of the genus Canis (probably descended from the common wolf) that has been domesticated "
    'by man since prehistoric times; occurs in many breeds; "the dog barked all night"  '
)
WN_ADJ = "00001740 00 a 01 able(a) 0 001 ! 00002098 a 0101 | "
WN_ADJ += "(usually followed by `to') having the necessary means; "
WN_ADJ += '"able to swim"  '
WN_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  "

# Real Flickr8k.token.txt lines (including the release's malformed id).
FLICKR_LINES = [
    "1000268201_693b08cb0e.jpg#0\tA child in a pink dress is climbing up a set of stairs in an entry way .",
    "1000268201_693b08cb0e.jpg#1\tA girl going into a wooden building .",
    "1001773457_577c3a7d70.jpg#0\tA black dog and a spotted dog are fighting",
    "1001773457_577c3a7d70.jpg#1\tA black dog and a tri-colored dog playing with each other on the road .",
    "2258277193_586949ec62.jpg.1#0\tpeople waiting for the subway",
]


def test_wordnet_line_parsing() -> None:
    assert parse_wordnet_line(WN_HEADER) is None
    parsed = parse_wordnet_line(WN_HOTDOG)
    assert parsed is not None
    offset, lemmas, gloss = parsed
    assert (offset, lemmas, gloss) == (
        "07697537",
        ["hotdog", "hot_dog", "red_hot"],
        "a frankfurter served hot on a bun",
    )
    parsed = parse_wordnet_line(WN_DOG)
    assert parsed is not None
    assert wordnet_sentences(parsed[1], parsed[2]) == [
        "dog domestic dog Canis familiaris",
        "a member of the genus Canis (probably descended from the common wolf) that has been "
        "domesticated by man since prehistoric times",
        "occurs in many breeds",
        "the dog barked all night",
    ]
    adj = parse_wordnet_line(WN_ADJ)
    assert adj is not None and adj[1] == ["able"]


def test_read_wordnet_records_phrases_and_malformed(tmp_path: Path) -> None:
    (tmp_path / "data.noun").write_text(f"{WN_HEADER}\n{WN_HOTDOG}\n{WN_DOG}\n02084071 05 n | truncated\n")
    (tmp_path / "data.adj").write_text(WN_ADJ + "\n")
    problems = Problems()
    records = list(read_wordnet(tmp_path, problems))
    assert [r.key for r in records] == [
        "wordnet:data.noun:07697537",
        "wordnet:data.noun:02084071",
        "wordnet:data.adj:00001740",
    ]
    assert all(r.image_id is None for r in records)
    assert records[0].phrases == ("hot dog", "red hot")
    assert records[0].sentences == ["hotdog hot dog red hot", "a frankfurter served hot on a bun"]
    # the truncated line, plus the two missing files (data.verb, data.adv)
    assert problems.by_reason == {"malformed synset": 1, "missing file": 2}
    assert (str(tmp_path / "data.noun"), 4) in [(f, n) for f, n, _ in problems.examples]


def test_read_tuxpaint(tmp_path: Path) -> None:
    fish = tmp_path / "animals" / "fish"
    fish.mkdir(parents=True)
    (fish / "coral-trout.txt").write_text("A coral trout.\nfr.utf8=Une truite de corail.\n")
    (fish / "coral-trout.png").write_bytes(b"\x89PNG")
    (fish / "shark.txt").write_text("A shark swimming in the sea.\n")
    (fish / "shark.svg").write_text("<svg/>")
    (fish / "gift.txt").write_text("A gift.\n")
    (fish / "empty.txt").write_text("\n")
    problems = Problems()
    records = {r.key: r for r in read_tuxpaint(tmp_path, problems)}
    trout = records["animals/fish/coral-trout.png"]
    assert trout.sentences == ["A coral trout."] and trout.image == str(fish / "coral-trout.png")
    assert records["animals/fish/shark.svg"].image_id == "animals/fish/shark.svg"
    assert records["tuxpaint:animals/fish/gift.txt"].image_id is None
    assert problems.by_reason == {"no image": 1, "empty description": 1}


def test_read_jsonl_resolves_paths_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"image": "photos/1.jpg", "sentences": ["A dog runs on the beach.", "A brown dog."]}),
        json.dumps({"image": "https://example.org/2.jpg", "sentences": ["A cat."], "id": "cat-2"}),
        json.dumps({"image": None, "sentences": ["Text only sentence here."]}),
        "{not json",
        json.dumps({"image": "x.jpg", "sentences": "one sentence is accepted"}),
        json.dumps({"image": "x.jpg", "sentences": [1, 2]}),
        json.dumps(["a", "list"]),
        "",
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problems = Problems()
    records = list(read_jsonl(path, problems))
    assert [r.image_id for r in records] == ["photos/1.jpg", "cat-2", None, "x.jpg"]
    assert records[0].image == str(tmp_path / "photos/1.jpg")
    assert records[1].image == "https://example.org/2.jpg"
    assert records[2].key == "records.jsonl:3"
    assert records[3].sentences == ["one sentence is accepted"]
    assert [(Path(f).name, n) for f, n, _ in problems.examples] == [
        ("records.jsonl", 4),
        ("records.jsonl", 6),
        ("records.jsonl", 7),
    ]


def test_read_flickr8k_groups_splits_and_repairs(tmp_path: Path) -> None:
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join([*FLICKR_LINES, "garbage line"]) + "\n")
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("1000268201_693b08cb0e.jpg\n")
    (tmp_path / "Flickr_8k.testImages.txt").write_text("1001773457_577c3a7d70.jpg\n")
    problems = Problems()
    records = list(read_flickr8k(tmp_path, problems))
    assert [(r.image_id, len(r.sentences), r.split) for r in records] == [
        ("1000268201_693b08cb0e.jpg", 2, "train"),
        ("1001773457_577c3a7d70.jpg", 2, "test"),
        ("2258277193_586949ec62.jpg", 1, None),
    ]
    assert records[0].image == str(tmp_path / "images" / "1000268201_693b08cb0e.jpg")
    assert problems.by_reason == {"repaired image id": 1, "malformed line": 1}
    assert problems.examples[-1][1] == 6


def test_read_coco(tmp_path: Path) -> None:
    data = {
        "images": [
            {
                "id": 318219,
                "file_name": "COCO_val2014_000000318219.jpg",
                "coco_url": "http://images.cocodataset.org/val2014/COCO_val2014_000000318219.jpg",
            }
        ],
        "annotations": [
            {"image_id": 318219, "id": 1, "caption": "A man in a kitchen making pizzas."},
            {
                "image_id": 318219,
                "id": 2,
                "caption": "Man in apron standing on front of oven with pans and bakeware",
            },
            {"image_id": 999, "id": 3, "caption": "A caption for an image that is not listed."},
            {"image_id": 318219, "id": 4},
        ],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(data))
    problems = Problems()
    records = list(read_coco(path, problems))
    assert records[0].image_id == "COCO_val2014_000000318219.jpg" and len(records[0].sentences) == 2
    assert records[0].image is not None and records[0].image.startswith("http://images.cocodataset.org/")
    assert problems.by_reason == {"bad annotation": 1, "unknown image_id": 1}
    text = list(read_coco(path, Problems(), text_only=True))
    assert all(r.image_id is None and r.key.startswith("coco:") for r in text)
    local = list(read_coco(path, Problems(), images_dir=tmp_path / "val2014"))
    assert local[0].image == str(tmp_path / "val2014" / "COCO_val2014_000000318219.jpg")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    problems = Problems()
    assert list(read_coco(bad, problems)) == [] and problems.count == 1


def test_read_pinterest_shards(tmp_path: Path) -> None:
    items = [
        {
            "image_name": "pin_0001.jpg",
            "url": "https://i.pinimg.com/736x/aa/bb/pin_0001.jpg",
            "sentences": ["easy chicken enchilada casserole recipe", "chicken enchiladas"],
        },
        {
            "image_name": b"pin_0002.jpg",
            "url": b"https://i.pinimg.com/736x/cc/dd/pin_0002.jpg",
            "sentences": [b"diy wooden pallet coffee table"],
        },
        "not a dict",
        {"image_name": "pin_0003.jpg", "sentences": None},
    ]
    for number in (0, 98):
        np.save(tmp_path / f"pinterest_{number:02d}.npy", np.array(items, dtype=object), allow_pickle=True)
    (tmp_path / "pinterest_99.npy").write_bytes(b"corrupt")
    problems = Problems()
    records = list(read_pinterest(tmp_path, problems))
    assert [(r.image_id, r.split) for r in records] == [
        ("pin_0001.jpg", "train"),
        ("pin_0002.jpg", "train"),
        ("pin_0001.jpg", "val"),
        ("pin_0002.jpg", "val"),
    ]
    assert records[1].sentences == ["diy wooden pallet coffee table"]
    assert records[1].image == "https://i.pinimg.com/736x/cc/dd/pin_0002.jpg"
    assert problems.by_reason == {"not a dict": 2, "bad item": 2, "unreadable shard": 1}
