"""Image -> words quality on Flickr8k: precision@5 of suggested words against the photo's own captions.

    python bench/image_words.py --embeddings EMB --flickr8k ../shared/data/flickr8k --split dev    # choose
    python bench/image_words.py --embeddings EMB --flickr8k ../shared/data/flickr8k --split test   # report

EMB is a Model A embeddings artifact of format version 2 (index/image_model.py) trained on Flickr8k's train
photos; features are read from `<flickr8k>/features-effnet-lite0/` (features.npy + ids.txt), never recomputed.
For every photo of the split, the truth is the set of words of its captions (index.text.tokenize) without
stopwords (index.mining.EDGE_STOPWORDS); a method suggests 5 non-stopword words and scores |hits| / 5.
Methods:

- `model_first_word`: the words with the highest probability as a caption's first word (`words=first`);
- `model_greedy_caption`: the words with the most probability mass summed over the greedy caption's steps
  (`words=caption`, the service's default);
- `nearest_to_caption_<greedy|expected>`: the vocabulary words nearest (cosine) to the caption vector of
  index.image_suggest (how the service picks phrases, measured on words so no phrase index is needed);
- `baseline_frequent`: the 5 most frequent caption words of the training photos, the same for every photo;
- `baseline_nearest_photo`: the most frequent caption words of the training photo with the most similar
  features (cosine), the nearest-neighbour transfer baseline.

Prints JSON: mean precision@5 per method with a 95% bootstrap interval over photos (1,000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from index.artifacts import load_embeddings
from index.image_model import ImageModel
from index.image_suggest import VECTOR_METHODS, caption_vectors, content_mask
from index.mining import EDGE_STOPWORDS
from index.text import tokenize

K = 5
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def read_captions(root: Path) -> dict[str, list[list[str]]]:
    captions: dict[str, list[list[str]]] = {}
    for line in (root / "Flickr8k.token.txt").read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, text = line.split("\t", 1)
            captions.setdefault(key.split("#")[0], []).append(tokenize(text))
    return captions


def content(words: list[str]) -> list[str]:
    return [w for w in words if w not in EDGE_STOPWORDS]


def top_counted(sentences: list[list[str]], k: int = K) -> list[str]:
    counts = Counter(w for s in sentences for w in content(s))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def precision(suggested: list[list[str]], truth: list[set[str]]) -> np.ndarray:
    return np.asarray([len(set(s[:K]) & t) / K for s, t in zip(suggested, truth, strict=True)])


def interval(values: np.ndarray, resamples: int = 1000) -> list[float]:
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
    return [round(float(np.quantile(means, 0.025)), 4), round(float(np.quantile(means, 0.975)), 4)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embeddings", type=Path, required=True, help="Model A embeddings, format version 2")
    p.add_argument("--flickr8k", type=Path, required=True, help="Flickr8k folder (captions, split lists)")
    p.add_argument("--features", type=Path, help="default <flickr8k>/features-effnet-lite0")
    p.add_argument("--split", choices=("dev", "test"), default="dev", help="photos to score (choose on dev)")
    args = p.parse_args(argv)
    feat_dir = args.features or args.flickr8k / "features-effnet-lite0"
    ids = (feat_dir / "ids.txt").read_text(encoding="utf-8").split()
    row = {image_id: i for i, image_id in enumerate(ids)}
    matrix = np.load(feat_dir / "features.npy", mmap_mode="r")
    captions = read_captions(args.flickr8k)

    def photos(split: str) -> list[str]:
        listed = (args.flickr8k / SPLIT_FILES[split]).read_text(encoding="utf-8").split()
        return [i for i in listed if i in row and i in captions]

    train, evaluated = photos("train"), photos(args.split)
    truth = [set(content([w for s in captions[i] for w in s])) for i in evaluated]
    feats = np.asarray(matrix[[row[i] for i in evaluated]], dtype=np.float32)  # [N, F]
    emb = load_embeddings(args.embeddings)
    model = ImageModel.from_embeddings(emb)
    mask = content_mask(model.words)
    suggested: dict[str, list[list[str]]] = {}

    def ranked(scores: np.ndarray) -> list[list[str]]:
        top = np.argsort(-np.where(mask[None, :], scores, -np.inf), axis=1, kind="stable")[:, :K]
        return [[model.words[j] for j in r] for r in top]

    probs_parts, mass_parts, caps = [], [], []
    for lo in range(0, len(evaluated), 256):
        batch = feats[lo : lo + 256]
        captions_b, mass_b = model.greedy_captions(batch)
        probs_parts.append(model.first_word_probs(batch))
        mass_parts.append(mass_b)
        caps += captions_b
    probs, mass = np.concatenate(probs_parts), np.concatenate(mass_parts)
    suggested["model_first_word"] = ranked(probs)
    suggested["model_greedy_caption"] = ranked(mass)
    unit = model.word_vectors / np.maximum(np.linalg.norm(model.word_vectors, axis=1, keepdims=True), 1e-12)
    for method in VECTOR_METHODS:
        vectors = caption_vectors(model, probs, caps, mask, method)
        suggested[f"nearest_to_caption_{method}"] = ranked(vectors @ unit.T)
    frequent = top_counted([s for i in train for s in captions[i]])
    suggested["baseline_frequent"] = [frequent] * len(evaluated)
    train_feats = np.asarray(matrix[[row[i] for i in train]], dtype=np.float32)
    train_unit = train_feats / np.linalg.norm(train_feats, axis=1, keepdims=True)
    nearest = np.argmax((feats / np.linalg.norm(feats, axis=1, keepdims=True)) @ train_unit.T, axis=1)
    suggested["baseline_nearest_photo"] = [top_counted(captions[train[j]]) for j in nearest]
    result = {
        "split": args.split,
        "photos": len(evaluated),
        "k": K,
        "embeddings": str(args.embeddings),
        "model": {k: emb.manifest.get(k) for k in ("model_kind", "dim", "vocab_size", "seed")},
        "precision_at_5": {
            name: {"mean": round(float(v.mean()), 4), "ci95": interval(v)}
            for name, v in ((n, precision(s, truth)) for n, s in suggested.items())
        },
        "examples": [
            {
                "photo": evaluated[i],
                "caption": " ".join(model.words[w] for w in caps[i]),
                **{n: suggested[n][i] for n in ("model_first_word", "baseline_nearest_photo")},
            }
            for i in range(3)
        ],  # fmt: skip
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
