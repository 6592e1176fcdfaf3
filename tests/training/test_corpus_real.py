"""The readers on the full real corpora: the demo (Debian packages) and ../shared/data (skips if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.corpus import PreparedCorpus
from training.__main__ import main
from training.corpus.demo import TUXPAINT_DIR, WORDNET_DIR, read_tuxpaint, read_wordnet
from training.corpus.readers import read_coco, read_flickr8k
from training.corpus.records import Problems


@pytest.mark.slow
@pytest.mark.skipif(
    not (TUXPAINT_DIR.is_dir() and WORDNET_DIR.is_dir()), reason="demo packages not installed"
)
def test_prepare_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert main(["prepare", "--source", "demo", "--out", str(out), "--quiet"]) == 0
    corpus = PreparedCorpus(out)
    m = corpus.manifest
    assert m["num_images"] > 900 and m["steps"]["records_in"] > 117_659
    assert m["splits"]["val"]["num_sentences"] > 1000  # WordNet text is hash-split in the demo
    phrases = dict(line.split("\t") for line in (out / "phrases.tsv").read_text().splitlines())
    assert "hot dog" in phrases and "domestic dog" in phrases
    assert {"dog", "cat", "trout"} <= set(corpus.words)


@pytest.mark.skipif(not TUXPAINT_DIR.is_dir(), reason="tuxpaint-stamps-default not installed")
def test_tuxpaint_tree_has_described_images() -> None:
    problems = Problems()
    records = list(read_tuxpaint(TUXPAINT_DIR, problems))
    with_image = [r for r in records if r.image_id]
    assert len(with_image) > 900 and problems.count < 20
    assert all(Path(r.image or "").suffix in (".png", ".svg") for r in with_image)


@pytest.mark.slow
@pytest.mark.skipif(not WORDNET_DIR.is_dir(), reason="wordnet-base not installed")
def test_wordnet_has_all_synsets() -> None:
    problems = Problems()
    count = sum(1 for _ in read_wordnet(WORDNET_DIR, problems))
    assert count == 117_659 and problems.count == 0


@pytest.mark.shared_data
def test_flickr8k_and_coco_full(shared_data: Path) -> None:
    problems = Problems()
    records = list(read_flickr8k(shared_data / "flickr8k", problems))
    assert sum(len(r.sentences) for r in records) == 40_460
    assert len({r.image_id for r in records}) == 8_092  # 8,091 photos + one id with captions but no image
    assert problems.by_reason == {"repaired image id": 1}
    splits = [r.split for r in records]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (6000, 1000, 1000)
    coco = list(read_coco(shared_data / "coco2014-val-subset" / "captions_val2014_subset.json", problems))
    assert len(coco) == 4_800 and sum(len(r.sentences) for r in coco) == 24_019
