"""Loading one image for a backbone: local files (JPEG/PNG/..., SVG via cairosvg), or URLs when asked to.

URLs are fetched only with `download=True`, with retries and exponential back-off, into a content cache keyed
by the URL's sha256 (a second run reads the cache). Transparent images are composited onto white.
"""

from __future__ import annotations

import hashlib
import io
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from index.artifacts import atomic_write
from training.corpus.records import is_url
from training.features.backbones import Preprocessing


class ImageError(Exception):
    """This image cannot be used; the message is the reason written to failed.tsv."""


@dataclass(frozen=True)
class FetchOptions:
    download: bool = False
    cache_dir: Path | None = None
    retries: int = 3
    timeout: float = 20.0
    backoff: float = 1.0


def fetch(url: str, options: FetchOptions) -> Path:
    """The cached local copy of `url`, downloading it (with retries) when not cached yet."""
    if not options.download:
        raise ImageError("image is a URL; pass --download to fetch it")
    if options.cache_dir is None:
        raise ImageError("--download needs a cache folder (--cache-dir)")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    path = Path(options.cache_dir) / digest[:2] / digest
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(max(1, options.retries)):
        try:
            with urllib.request.urlopen(url, timeout=options.timeout) as response:
                data = response.read()
            with atomic_write(path) as f:
                f.write(data)
            return path
        except OSError as exc:  # URLError, HTTPError, timeouts are all OSErrors
            last = exc
            if attempt + 1 < options.retries:
                time.sleep(options.backoff * 2**attempt)
    raise ImageError(f"download failed after {max(1, options.retries)} tries: {last}")


def open_image(ref: str, options: FetchOptions, size: int = 224) -> Image.Image:
    """The image at `ref` (path or URL) as an RGB PIL image; raises ImageError with the reason."""
    path = fetch(ref, options) if is_url(ref) else Path(ref)
    if not path.is_file():
        raise ImageError("missing file")
    img: Image.Image
    try:
        if path.suffix.lower() == ".svg":
            import cairosvg

            png = cairosvg.svg2png(url=str(path), output_width=size, output_height=size)
            img = Image.open(io.BytesIO(png))
        else:
            img = Image.open(path)
        img.load()
    except ImageError:
        raise
    except Exception as exc:  # PIL and cairosvg raise many types on corrupt input
        raise ImageError(f"unreadable image: {type(exc).__name__}: {exc}") from exc
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def to_tensor(img: Image.Image, pre: Preprocessing) -> torch.Tensor:
    """[3, size, size] float32: stretched to size x size, then (rgb / 255 - mean) / std."""
    img = img.resize((pre.size, pre.size), Image.Resampling.BILINEAR)
    rgb = np.asarray(img, dtype=np.float32) / np.float32(255.0)  # [H, W, 3]
    x = (rgb - np.asarray(pre.mean, dtype=np.float32)) / np.asarray(pre.std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))


class ImageDataset(torch.utils.data.Dataset[tuple[int, torch.Tensor, str]]):
    """(row, [3, size, size] tensor, "") per image, or (row, zeros, reason) when it cannot be read."""

    def __init__(self, items: list[tuple[int, str]], pre: Preprocessing, fetch_options: FetchOptions) -> None:
        self.items = items
        self.pre = pre
        self.fetch_options = fetch_options

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, str]:
        row, ref = self.items[i]
        try:
            return row, to_tensor(open_image(ref, self.fetch_options, self.pre.size), self.pre), ""
        except ImageError as exc:
            reason = str(exc) or "unreadable image"
        except Exception as exc:  # a decoder failing late (truncated data) must not stop the run
            reason = f"unreadable image: {type(exc).__name__}: {exc}"
        return row, torch.zeros(3, self.pre.size, self.pre.size), " ".join(reason.split())
