"""`POST /v1/related/image`: CNN features as JSON, uploads through the real CNN, no image extra, bad input."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from index.artifacts import load_embeddings, write_embeddings
from index.build import BuildConfig, build_index
from index.image_model import RESERVED, ImageModel, image_arrays_spec
from index.mining import EDGE_STOPWORDS
from tests.app.conftest import PHRASES, Artifacts, make_settings, word_vectors

EFFNET = {
    "backbone": "efficientnet-lite0",
    "preprocessing": {"mean": [0.5, 0.5, 0.5], "resize": "stretch", "size": 224, "std": [0.5, 0.5, 0.5]},
    "binarised": False,
    "dim": 1280,
}
URL = "/v1/related/image"


def _image_index(root: Path, name: str, features: dict[str, object]) -> Path:
    """A Flat index over embeddings with a (random, deterministic) Model A image part."""
    words, vectors = word_vectors()
    words, vectors = ["a", "the", *words], np.vstack([np.ones((2, vectors.shape[1]), np.float32), vectors])
    rng = np.random.default_rng(3)
    spec = image_arrays_spec(len(words), vectors.shape[1], 8, 1280, shared=True)
    arrays = {
        n: (rng.standard_normal(shape) * (0.05 if n == "image_weight" else 0.5)) for n, shape in spec.items()
    }
    desc = {"model_kind": "a", "feature_dim": 1280, "hidden_dim": 8, "embed_dim": vectors.shape[1],
            "shared_output": True, "reserved": list(RESERVED), "features": features}  # fmt: skip
    write_embeddings(
        root / f"emb-{name}", words, [1] * len(words), vectors, model_kind="a", corpus={}, training={},
        metrics={}, seed=0, image=(desc, arrays),
    )  # fmt: skip
    phrases = root / "phrases.txt"
    phrases.write_text("\n".join(words[2:] + PHRASES) + "\n", encoding="utf-8")
    out = root / f"index-{name}"
    build_index(
        root / f"emb-{name}", out, phrase_files=[phrases], config=BuildConfig(factory="Flat", progress=False)
    )
    return out


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    _image_index(root, "effnet", EFFNET)
    _image_index(root, "synthetic", {**EFFNET, "backbone": "synthetic"})
    _image_index(
        root, "othermean", {**EFFNET, "preprocessing": {**EFFNET["preprocessing"], "mean": [0.4] * 3}}
    )
    return root


def _client(artifacts: Artifacts, sqlite_url: str, index: Path, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(artifacts, sqlite_url, index_dir=index, **settings)))


@pytest.fixture
def client(artifacts: Artifacts, sqlite_url: str, image_root: Path) -> Iterator[TestClient]:
    # the synthetic index's phrases are counted once: rank them by cosine alone to check the route's mechanics
    with _client(artifacts, sqlite_url, image_root / "index-effnet", min_count=0, popularity=0.0) as c:
        yield c


def _jpeg(size: tuple[int, int] = (320, 240), fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], len(mode)), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, fmt)
    return buf.getvalue()


def _flat(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels but holds a few bytes of data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_features_give_first_words_and_caption_phrases(client: TestClient, image_root: Path) -> None:
    feats = np.random.default_rng(1).standard_normal(1280).astype(np.float32)
    r = client.post(URL, json={"features": feats.tolist()}, params={"k": 5, "words": "first"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "features" and body["backbone"] == "efficientnet-lite0"
    model = ImageModel.from_embeddings(load_embeddings(image_root / "index-effnet" / "embeddings"))
    probs = model.first_word_probs(np.asarray(feats, np.float64).astype(np.float32))[0]
    content = [(p, w) for w, p in zip(model.words, probs.tolist(), strict=True) if w not in EDGE_STOPWORDS]
    expected = [w for _, w in sorted(content, reverse=True)[:5]]
    assert [w["word"] for w in body["words"]] == expected  # "a", "the" never suggested
    assert [w["score"] for w in body["words"]] == pytest.approx(
        sorted(probs[[model.words.index(w) for w in expected]], reverse=True), rel=1e-5
    )
    scores = [h["score"] for h in body["results"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert set(body["caption"].split()) <= set(model.words)
    other = client.post(URL, json={"features": (-feats).tolist()}, params={"k": 5, "words": "first"}).json()
    assert other["words"] != body["words"]  # the image matters
    default = client.post(URL, json={"features": feats.tolist()}, params={"k": 5}).json()  # words=caption
    _, mass = model.greedy_captions(feats[None, :])
    content_mass = sorted(
        ((m, w) for w, m in zip(model.words, mass[0].tolist(), strict=True) if w not in EDGE_STOPWORDS),
        reverse=True,
    )
    assert [w["word"] for w in default["words"]] == [w for _, w in content_mass[:5]]
    assert default["caption"] == body["caption"] and default["results"] == body["results"]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"features": [0.5] * 1279}, 422, "1280 values"),
        ({"features": [0.5] * 2000}, 422, "1280 values"),
        ({"features": []}, 422, "validation"),
        ({"features": ["x"] * 1280}, 422, "validation"),
        ({"features": [0.5] * 1280, "extra": 1}, 422, "validation"),
        ({"feature": [0.5] * 1280}, 422, "validation"),
    ],
)
def test_bad_features_are_4xx(client: TestClient, payload: object, status: int, fragment: str) -> None:
    r = client.post(URL, json=payload)
    assert r.status_code == status and fragment in r.text, r.text
    assert r.headers["content-type"] == "application/json"


def test_bad_bodies_are_4xx(client: TestClient) -> None:
    assert (
        client.post(URL, content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    r = client.post(URL, content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = client.post(URL, files={"photo": ("x.jpg", _jpeg())})
    assert r.status_code == 422 and "'image'" in r.json()["error"]["message"]
    assert client.post(URL, json={"features": [0.0] * 1280}, params={"k": 0}).status_code == 422
    assert client.post(URL, json={"features": [0.0] * 1280}, params={"k": 101}).status_code == 400


torch = pytest.importorskip("torch", reason="the upload path needs the image extra (torch)")


def test_upload_runs_the_recorded_backbone(client: TestClient) -> None:
    from training.features.backbones import make_backbone
    from training.features.images import to_rgb, to_tensor

    data = _jpeg()
    r = client.post(URL, files={"image": ("photo.jpg", data, "image/jpeg")}, params={"k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "upload"
    backbone = make_backbone("efficientnet-lite0")  # what `python -m training features` computes
    with torch.inference_mode():
        x = to_tensor(to_rgb(Image.open(io.BytesIO(data))), backbone.preprocessing)[None]
        feats = backbone.module.eval()(x)[0].numpy().astype(np.float16).astype(np.float32)
    same = client.post(URL, json={"features": feats.tolist()}, params={"k": 4}).json()
    assert same["words"] == body["words"] and same["results"] == body["results"]
    png = client.post(URL, files={"image": ("p.png", _jpeg((64, 80), "PNG", "RGBA"), "image/png")})
    assert png.status_code == 200 and png.json()["source"] == "upload"


def test_bad_uploads_are_4xx(client: TestClient) -> None:
    cases = {
        "not an image": (b"GIF89a this is not a picture" * 10, 415, "unsupported_media_type"),
        "gif": (_jpeg((20, 20), "GIF", "RGB"), 415, "unsupported_media_type"),
        "truncated": (_jpeg()[:2000], 422, "unreadable_image"),
        "empty": (b"", 422, "unreadable_image"),
        "bomb 20k x 20k": (_png_header_only(20_000, 20_000), 413, "payload_too_large"),
        "header-only 5k x 5k": (_png_header_only(5_000, 5_000), 422, "unreadable_image"),
    }
    for name, (data, status, code) in cases.items():
        r = client.post(URL, files={"image": ("x.bin", data, "application/octet-stream")})
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (name, r.text)


def test_upload_limits_are_settings(artifacts: Artifacts, sqlite_url: str, image_root: Path) -> None:
    index = image_root / "index-effnet"
    with _client(artifacts, sqlite_url, index, max_image_bytes=4096, max_image_pixels=50_000) as c:
        r = c.post(URL, files={"image": ("big.png", _jpeg((400, 400), "PNG"), "image/png")})
        assert r.status_code == 413 and "MMWE_MAX_IMAGE_BYTES" in r.json()["error"]["message"]
        r = c.post(URL, files={"image": ("wide.jpg", _flat((300, 200)), "image/jpeg")})  # ~1 kB, 60k pixels
        assert r.status_code == 413 and "MMWE_MAX_IMAGE_PIXELS" in r.json()["error"]["message"]
        assert c.post(URL, files={"image": ("ok.jpg", _flat((200, 200)), "image/jpeg")}).status_code == 200


@pytest.mark.parametrize(
    ("name", "fragment"), [("synthetic", "unknown backbone"), ("othermean", "preprocessing")]
)
def test_backbone_or_preprocessing_mismatch_is_refused(
    artifacts: Artifacts, sqlite_url: str, image_root: Path, name: str, fragment: str
) -> None:
    with _client(artifacts, sqlite_url, image_root / f"index-{name}") as c:
        r = c.post(URL, files={"image": ("p.jpg", _jpeg(), "image/jpeg")})
        assert r.status_code == 409 and fragment in r.json()["error"]["message"], r.text
        assert c.post(URL, json={"features": [0.1] * 1280}).status_code == 200


def test_without_the_image_extra_uploads_get_501(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    r = client.post(URL, files={"image": ("p.jpg", _jpeg(), "image/jpeg")})
    assert r.status_code == 501 and "mmwe[image]" in r.json()["error"]["message"], r.text
    assert client.post(URL, json={"features": [0.1] * 1280}).status_code == 200


def test_a_model_without_image_part_is_422(artifacts: Artifacts, sqlite_url: str) -> None:
    with _client(artifacts, sqlite_url, artifacts.index) as c:  # word2vec embeddings
        r = c.post(URL, json={"features": [0.1] * 1280})
        assert r.status_code == 422 and "no image part" in r.json()["error"]["message"]
