"""Model A's first steps in numpy: image features -> word probabilities and a predicted caption (no torch).

An `mmwe.embeddings` artifact of version 2 written for an image model (kinds `a`, `a-noshare`) carries an
`image/` part (docs/formats.md §4.1): the image projection, the GRU, the FC layer and the output layer.
With it:

    h_0 = ReLU(W_I f + b_I)                                     [B, H]   f: the CNN features of the image
    h_1 = GRU(e_<bos>, h_0)                                     [B, H]
    p(w_1 = w | image) = softmax_w(O (W_fc h_1 + b_fc) + b_out)  [B, R + V] (reserved tokens first)

    from index.artifacts import load_embeddings
    from index.image_model import ImageModel
    model = ImageModel.from_embeddings(load_embeddings("data/embeddings/demo-a"))
    probs = model.first_word_probs(features)          # [B, V] over vocab.tsv's words
    captions = model.greedy_captions(features)        # word rows of vocab.tsv, <eos> excluded

`training.image_export` writes the part; tests/index/test_image_model.py checks this forward against the torch
model on the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from index.artifacts import IMAGE_DIR, Embeddings
from index.corpus import EOS, SPECIALS
from index.errors import ArtifactError, QueryError

RESERVED = SPECIALS  # the output layer's first rows: <pad>, <unk>, <bos>, <eos> (mmwe.corpus ids 0-3)
IMAGE_KINDS = ("a", "a-noshare")


def image_arrays_spec(v: int, e: int, h: int, f: int, shared: bool) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every array of the image part (V words, E embedding, H state, F feature dims)."""
    spec: dict[str, tuple[int, ...]] = {
        "image_weight": (h, f),  # W_I
        "image_bias": (h,),
        "bos_embedding": (e,),  # the input embedding of <bos> (vectors.npy holds words only)
        "gru_weight_ih": (3 * h, e),  # PyTorch's packing: gates r, z, n
        "gru_weight_hh": (3 * h, h),
        "gru_bias_ih": (3 * h,),
        "gru_bias_hh": (3 * h,),
        "fc_weight": (e, h),
        "fc_bias": (e,),
        "output_bias": (v,),  # rows of vocab.tsv
        "output_reserved": (len(RESERVED), e),  # output rows of <pad>, <unk>, <bos>, <eos>
        "output_reserved_bias": (len(RESERVED),),
    }
    if not shared:
        spec["output_weight"] = (v, e)  # a-noshare; shared models use vectors.npy
    return spec


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))  # = 1 / (1 + exp(-x)), without overflow warnings


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class ImageModel:
    words: list[str]
    word_vectors: np.ndarray  # float32 [V, E]: input embeddings of vocab.tsv's words
    output_words: np.ndarray  # float32 [V, E]: their output rows (= word_vectors when weights are shared)
    arrays: dict[str, np.ndarray]
    description: dict[str, Any]  # the manifest's `image` field

    @classmethod
    def from_embeddings(cls, emb: Embeddings) -> ImageModel:
        """The image part of `emb`; ArtifactError naming the file when it is absent or malformed."""
        desc = emb.manifest.get("image")
        where = emb.path if emb.path is not None else "embeddings"
        if not isinstance(desc, dict) or emb.path is None:
            kind = emb.manifest.get("model_kind")
            raise ArtifactError(
                where,
                f"no image part (model kind {kind!r}, format version {emb.manifest.get('version')}): "
                f"image suggestions need a version-2 artifact of an image model ({', '.join(IMAGE_KINDS)})",
            )
        try:
            h, f, shared = int(desc["hidden_dim"]), int(desc["feature_dim"]), bool(desc["shared_output"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(emb.path / "manifest.json", f"malformed image field: {exc}") from exc
        spec = image_arrays_spec(len(emb.words), emb.dim, h, f, shared)
        arrays: dict[str, np.ndarray] = {}
        for name, shape in spec.items():
            path = emb.path / IMAGE_DIR / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError as exc:
                raise ArtifactError(path, "missing file of the image part") from exc
            except (ValueError, OSError, EOFError) as exc:
                raise ArtifactError(path, f"corrupt array: {exc}") from exc
            if array.dtype != np.float32 or array.shape != shape:
                raise ArtifactError(
                    path, f"expected float32 {list(shape)}, found {array.dtype} {array.shape}"
                )
            arrays[name] = np.ascontiguousarray(array) if array.size < (1 << 20) else array.view(np.ndarray)
        vectors = emb.vectors.view(np.ndarray)
        output = vectors if shared else arrays["output_weight"]
        return cls(list(emb.words), vectors, output, arrays, desc)

    @property
    def feature_dim(self) -> int:
        return int(self.description["feature_dim"])

    def check_features(self, features: Any) -> np.ndarray:
        """`features` as float32 [B, F]; QueryError for a wrong dimension or a non-finite value."""
        try:
            x = np.asarray(features, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"features must be numbers: {exc}") from exc
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise QueryError(
                f"features must have {self.feature_dim} values (the model's "
                f"{self.description.get('features', {}).get('backbone', 'CNN')} features), got shape "
                f"{list(x.shape)}"
            )
        if not np.isfinite(x).all():
            raise QueryError("features contain NaN or infinity")
        return x

    # ---- the network --------------------------------------------------------------------------------------
    def initial_state(self, features: np.ndarray) -> np.ndarray:
        a = self.arrays
        return np.asarray(np.maximum(features @ a["image_weight"].T + a["image_bias"], 0.0))  # [B, H]

    def gru_step(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """One GRU step with PyTorch's equations: x [B, E], h [B, H] -> [B, H]."""
        a = self.arrays
        hidden = h.shape[1]
        gi = x @ a["gru_weight_ih"].T + a["gru_bias_ih"]  # [B, 3H]
        gh = h @ a["gru_weight_hh"].T + a["gru_bias_hh"]  # [B, 3H]
        r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = _sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
        n = np.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
        return np.asarray((1.0 - z) * n + z * h)

    def logits(self, h: np.ndarray) -> np.ndarray:
        """Output logits [B, R + V] of states h [B, H]: the reserved tokens first, then vocab.tsv's words."""
        a = self.arrays
        z = h @ a["fc_weight"].T + a["fc_bias"]  # [B, E]
        reserved = z @ a["output_reserved"].T + a["output_reserved_bias"]  # [B, R]
        words = z @ self.output_words.T + a["output_bias"]  # [B, V]
        return np.concatenate([reserved, words], axis=1)

    def first_step(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [B, R + V] of the first word, state h_1 [B, H])."""
        x = self.check_features(features)
        h0 = self.initial_state(x)
        bos = np.broadcast_to(self.arrays["bos_embedding"], (x.shape[0], self.word_vectors.shape[1]))
        h1 = self.gru_step(bos, h0)
        return _softmax(self.logits(h1)), h1

    def first_word_probs(self, features: Any) -> np.ndarray:
        """p(first word = w | image) over vocab.tsv's words [B, V] (reserved tokens dropped, not rescaled)."""
        return self.first_step(features)[0][:, len(RESERVED) :]

    def greedy_captions(self, features: Any, max_len: int = 16) -> tuple[list[list[int]], np.ndarray]:
        """Greedy decoding: (word rows of each caption, summed word probabilities over its steps [B, V]).

        Each step takes the most probable token among <eos> and the words (never <unk>, <pad>, <bos>) and
        feeds its input embedding to the next step; a caption ends at <eos> or after `max_len` words.
        """
        probs, h = self.first_step(features)
        batch = probs.shape[0]
        captions: list[list[int]] = [[] for _ in range(batch)]
        mass = np.zeros((batch, len(self.words)), dtype=np.float64)
        alive = np.ones(batch, dtype=bool)
        for _ in range(max_len):
            mass[alive] += probs[alive, len(RESERVED) :]
            allowed = probs.copy()
            allowed[:, : len(RESERVED)] = -1.0
            allowed[:, EOS] = probs[:, EOS]
            best = allowed.argmax(axis=1)
            for b in np.flatnonzero(alive):
                if best[b] == EOS:
                    alive[b] = False
                else:
                    captions[b].append(int(best[b]) - len(RESERVED))
            if not alive.any():
                break
            x = self.word_vectors[np.maximum(best - len(RESERVED), 0)]  # [B, E]; rows of finished ones unused
            h = self.gru_step(x, h)
            probs = _softmax(self.logits(h))
        return captions, mass.astype(np.float32)
