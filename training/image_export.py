"""The image part of an embeddings artifact (format version 2, docs/formats.md §4.1), from a trained model.

`python -m training train` writes it for image models (A, A-noshare) at the end of training. An artifact
written before (version 1) gets it from its checkpoint folder:

    python -m training image-export --embeddings data/emb-a            # reads data/emb-a.ckpt/best.pt

`index.image_model.ImageModel` runs the model's first steps from it in numpy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import load_embeddings, read_manifest, sha256_file, write_embeddings
from index.corpus import BOS, SPECIALS
from index.errors import ArtifactError
from index.image_model import IMAGE_KINDS, RESERVED, image_arrays_spec
from training.checkpoint import load_checkpoint
from training.model import ModelConfig, MultimodalGRU

# the backbone identity a model's features carry: what the service must reproduce on an uploaded image
FEATURE_KEYS = ("backbone", "preprocessing", "binarised", "dim")


def features_identity(features_dir: Path) -> dict[str, Any]:
    """The fields of a features manifest that define how to compute the same features for a new image."""
    manifest = read_manifest(features_dir, "mmwe.features", 1)
    ident = {k: manifest.get(k) for k in FEATURE_KEYS}
    ident["manifest_sha256"] = sha256_file(Path(features_dir) / "manifest.json")
    return ident


def image_part(
    model: MultimodalGRU, features: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest `image` field, arrays) of an A / A-noshare model; `features` = features_identity(...)."""
    c = model.config
    if c.kind not in IMAGE_KINDS or model.image_fc is None:
        raise ValueError(f"model kind {c.kind!r} has no image-conditioned first step")
    assert tuple(SPECIALS) == RESERVED, "index.image_model.RESERVED must list training's reserved tokens"

    def a(t: Any) -> np.ndarray:
        return np.asarray(t.detach().float().cpu().numpy(), dtype=np.float32)

    reserved = len(SPECIALS)
    out_w, out_b = a(model.output_weight), a(model.out_bias)
    arrays = {
        "image_weight": a(model.image_fc.weight),
        "image_bias": a(model.image_fc.bias),
        "bos_embedding": a(model.embedding.weight[BOS]),
        "gru_weight_ih": a(model.gru.weight_ih_l0),
        "gru_weight_hh": a(model.gru.weight_hh_l0),
        "gru_bias_ih": a(model.gru.bias_ih_l0),
        "gru_bias_hh": a(model.gru.bias_hh_l0),
        "fc_weight": a(model.fc.weight),
        "fc_bias": a(model.fc.bias),
        "output_bias": out_b[reserved:],
        "output_reserved": out_w[:reserved],
        "output_reserved_bias": out_b[:reserved],
    }
    if not c.shares_weights:
        arrays["output_weight"] = out_w[reserved:]
    spec = image_arrays_spec(
        c.vocab_size - reserved, c.embed_dim, c.hidden_dim, c.feature_dim, c.shares_weights
    )
    assert {k: v.shape for k, v in arrays.items()} == spec
    desc = {
        "model_kind": c.kind,
        "feature_dim": c.feature_dim,
        "hidden_dim": c.hidden_dim,
        "embed_dim": c.embed_dim,
        "shared_output": c.shares_weights,
        "reserved": list(RESERVED),
        "features": features,
    }
    return desc, arrays


def add_image_part(
    embeddings: Path, checkpoint_dir: Path | None = None, features: Path | None = None
) -> None:
    """Rewrite the artifact `embeddings` (atomically) with the image part of its checkpoint's best weights."""
    emb = load_embeddings(embeddings, mmap=False, verify=True)
    ckpt_dir = checkpoint_dir or embeddings.with_name(embeddings.name + ".ckpt")
    config = json.loads((ckpt_dir / "config.json").read_text(encoding="utf-8"))
    best = ckpt_dir / "best.pt"
    state = load_checkpoint(best if best.exists() else ckpt_dir / "last.pt")
    model = MultimodalGRU(ModelConfig(**config["model"]))
    model.load_state_dict(state["model"])
    vectors = model.input_embeddings().numpy()[len(SPECIALS) :]
    if not np.array_equal(vectors, emb.vectors):
        raise ArtifactError(ckpt_dir, f"these weights are not the ones exported to {embeddings}")
    feats = features or Path(config["features"])
    m = emb.manifest
    write_embeddings(
        embeddings,
        emb.words,
        emb.counts.tolist(),
        emb.vectors,
        model_kind=m["model_kind"],
        corpus=m["corpus"],
        training=m["training"],
        metrics=m["metrics"],
        seed=m["seed"],
        image=image_part(model, features_identity(feats)),
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "image-export",
        help="add the image part (format version 2) to an image model's embeddings from its checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--embeddings", type=Path, required=True, help="mmwe.embeddings directory of model a/a-noshare"
    )
    p.add_argument("--checkpoint-dir", type=Path, help="its training checkpoints (default <embeddings>.ckpt)")
    p.add_argument("--features", type=Path, help="the features it was trained on (default: from config.json)")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    add_image_part(args.embeddings, args.checkpoint_dir, args.features)
    print(
        json.dumps(
            {"embeddings": str(args.embeddings), "image": load_embeddings(args.embeddings).manifest["image"]}
        )
    )
    return 0
