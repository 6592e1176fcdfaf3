"""A small real phrase index with three clear topics, built by the real index builder (for the page tests).

index_dir = build_topic_index(tmp_path)   # embeddings (dim 16) -> `python -m index build` -> tmp_path/index
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import write_embeddings
from index.image_model import RESERVED, image_arrays_spec

TOPICS = {
    "animals": ["dog", "puppy", "hound", "cat", "kitten", "pony", "horse", "wolf"],
    "food": ["hot", "pizza", "bread", "cheese", "sandwich", "soup", "cake", "apple"],
    "vehicles": ["car", "truck", "bus", "automobile", "bicycle", "train", "tractor", "van"],
}
EXTRA_WORDS = ["young", "fire", "city", "the", "of"]  # modifiers and two function words
PHRASES = {"hot dog": 40, "young dog": 30, "fire truck": 25, "apple cake": 20, "city bus": 15, "of the": 500}


def make_embeddings(out: Path) -> Path:
    """Each topic word = its topic's centre + small noise; the extra words point their own ways. The function
    words are the most frequent, then the topic words in order, then the modifiers."""
    rng = np.random.default_rng(0)
    centres = np.eye(16, dtype=np.float32)[:3] * 3.0
    words: list[str] = []
    vectors: list[np.ndarray] = []
    for t, members in enumerate(TOPICS.values()):
        for w in members:
            words.append(w)
            vectors.append(centres[t] + rng.normal(0, 0.6, 16).astype(np.float32))
    for w in EXTRA_WORDS:
        words.append(w)
        vectors.append(rng.normal(0, 1.0, 16).astype(np.float32))
    counts = list(range(200, 200 - len(words), -1))
    counts[-2:] = [1000, 900]  # "the", "of"
    write_embeddings(
        out,
        words,
        counts,
        np.stack(vectors),
        model_kind="a",
        corpus={"name": "topics", "num_sentences": 0, "num_tokens": 0},
        training={},
        metrics={},
        seed=0,
        image=image_part(len(words), 16, rng),
    )
    return out


def image_part(
    vocab: int, dim: int, rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A (random) Model A image part over EfficientNet-Lite0 features, so the page can describe photos."""
    spec = image_arrays_spec(vocab, dim, 8, 1280, shared=True)
    arrays = {n: rng.normal(0, 0.05 if n == "image_weight" else 0.5, shape) for n, shape in spec.items()}
    preprocessing = {"size": 224, "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "stretch"}
    features = {
        "backbone": "efficientnet-lite0",
        "dim": 1280,
        "binarised": False,
        "preprocessing": preprocessing,
    }
    desc = {"model_kind": "a", "feature_dim": 1280, "hidden_dim": 8, "embed_dim": dim, "shared_output": True,
            "reserved": list(RESERVED), "features": features}  # fmt: skip
    return desc, arrays


def build_topic_index(tmp: Path) -> Path:
    from index.__main__ import main as index_cli

    embeddings = make_embeddings(tmp / "embeddings")
    phrases = tmp / "phrases.tsv"
    phrases.write_text("".join(f"{p}\t{c}\n" for p, c in PHRASES.items()), encoding="utf-8")
    out = tmp / "index"
    code = index_cli(
        ["build", "--embeddings", str(embeddings), "--phrases", str(phrases), "--out", str(out)]
        + ["--factory", "Flat", "--no-progress", "--threads", "1"]
    )
    assert code == 0, "the index build failed"
    return out
