"""Feature extraction on scikit-image's sample photos: EfficientNet-Lite0, the store, resume, shards, merge,
failures, URL download with retries and cache, and a user's own .npy features."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from index.errors import ArtifactError, MmweError
from training.__main__ import main
from training.features.backbones import efficientnet_lite0
from training.features.extract import DONE, PENDING, extract_to_work, finalize
from training.features.images import FetchOptions, ImageError, fetch, open_image
from training.features.store import FeatureWriter, load_features, read_failed

skimage = pytest.importorskip("skimage")
SAMPLES = Path(skimage.__file__).parent / "data"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "camera.png", "logo.png"]


@pytest.fixture(scope="module")
def backbone():  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)  # 2 threads stall badly when the cores are shared
    return efficientnet_lite0()


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, d / name)
    return d


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32), b.astype(np.float32)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_store_roundtrip_and_corruption(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    writer = FeatureWriter(tmp_path, 8)
    writer.add(["a.jpg", "b.jpg", "c.jpg"], rows[:3])
    writer.add(["d.jpg", "e.jpg"], rows[3:])
    writer.fail("f.jpg", "missing file")
    writer.close(backbone="test")
    store = load_features(tmp_path)
    assert store.ids == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"] and store.matrix.dtype == np.float16
    np.testing.assert_allclose(store.matrix, rows, atol=1e-2)
    assert store.row_of()["d.jpg"] == 3 and read_failed(tmp_path) == [("f.jpg", "missing file")]
    with pytest.raises(ValueError):
        (tmp_path / "other").mkdir()
        FeatureWriter(tmp_path / "other", 8).add(["x"], np.full((1, 8), np.nan))
    with open(tmp_path / "features.f16", "r+b") as f:
        f.truncate(10)
    with pytest.raises(ArtifactError, match="features.f16"):
        load_features(tmp_path)


def test_open_image_handles_alpha_grey_svg_and_failures(tmp_path: Path) -> None:
    opts = FetchOptions()
    assert open_image(str(SAMPLES / "logo.png"), opts).mode == "RGB"
    assert open_image(str(SAMPLES / "camera.png"), opts).size == (512, 512)
    svg = tmp_path / "stamp.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="10" '
        'fill="red"/></svg>'
    )
    img = open_image(str(svg), opts)
    assert img.size == (224, 224) and img.getpixel((10, 100)) == (255, 0, 0)
    assert img.getpixel((200, 100)) == (255, 255, 255)  # transparent half on white
    with pytest.raises(ImageError, match="missing file"):
        open_image(str(tmp_path / "nope.jpg"), opts)
    (tmp_path / "truncated.jpg").write_bytes((SAMPLES / "rocket.jpg").read_bytes()[:2000])
    with pytest.raises(ImageError, match="unreadable"):
        open_image(str(tmp_path / "truncated.jpg"), opts)
    with pytest.raises(ImageError, match="--download"):
        open_image("https://example.org/a.jpg", opts)


def test_efficientnet_features_are_1280d_and_meaningful(backbone, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    chelsea = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    chelsea.crop((20, 0, 430, 300)).save(tmp_path / "chelsea_crop.png")
    refs = [
        str(SAMPLES / "chelsea.png"),
        str(tmp_path / "chelsea_crop.png"),
        str(SAMPLES / "coffee.png"),
        str(SAMPLES / "rocket.jpg"),
    ]
    extract_to_work(refs, backbone, tmp_path / "work", "fp", batch_size=2, loader_workers=0, progress=False)
    out = tmp_path / "store"
    out.mkdir()
    manifest = finalize(tmp_path / "work", ["cat", "cat2", "coffee", "rocket"], out, backbone, {})
    assert (
        manifest["dim"] == 1280 and manifest["backbone"] == "efficientnet-lite0" and not manifest["binarised"]
    )
    m = load_features(out).matrix
    assert np.isfinite(m.astype(np.float32)).all()
    # the same cat, re-framed, is closer to the cat than coffee or a rocket is
    assert cosine(m[0], m[1]) > max(cosine(m[1], m[2]), cosine(m[1], m[3])) + 0.1


def test_extraction_resumes_only_pending_rows(backbone, photo_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    refs = [str(photo_dir / n) for n in PHOTOS[:2]]
    work = tmp_path / "work"
    first = extract_to_work(refs, backbone, work, "fp", batch_size=1, loader_workers=0, progress=False)
    assert first["images_this_run"] == 2
    full = np.fromfile(work / "rows.f16", dtype="<f2").reshape(2, 1280).copy()
    # simulate an interruption after the first batch: row 1 never reached disk
    status = np.memmap(work / "status.u8", dtype="u1", mode="r+")
    status[1:] = PENDING
    status.flush()
    rows = np.memmap(work / "rows.f16", dtype="<f2", mode="r+", shape=(2, 1280))
    rows[1:] = 0
    rows.flush()
    again = extract_to_work(refs, backbone, work, "fp", batch_size=1, loader_workers=0, progress=False)
    assert again["images_this_run"] == 1
    assert (np.fromfile(work / "status.u8", dtype="u1") == DONE).all()
    np.testing.assert_allclose(np.fromfile(work / "rows.f16", dtype="<f2").reshape(2, 1280), full, atol=1e-3)
    # another fingerprint (other images/backbone) starts over instead of mixing rows
    assert (
        extract_to_work(refs[:1], backbone, work, "other", loader_workers=0, progress=False)[
            "images_this_run"
        ]
        == 1
    )


@pytest.mark.slow
def test_cli_shards_merge_failures_and_rerun(photo_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (photo_dir / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = [*PHOTOS[:3], "corrupt.jpg", "missing.jpg"]
    with open(corpus / "images.tsv", "w") as f:
        for i, name in enumerate(names):
            f.write(f"{i}\t{name}\t{photo_dir / name}\n")
        f.write(f"5\tchelsea.png\t{photo_dir / 'chelsea.png'}\n")  # a repeated id is computed once
        f.write("6\tweb.jpg\thttps://example.invalid/web.jpg\n")
    out = tmp_path / "feats"
    common = ["features", "--quiet", "--corpus", str(corpus), "--loader-workers", "0", "--batch-size", "2"]
    assert main([*common, "--out", str(out)]) == 0
    single = load_features(out)
    assert sorted(single.ids) == sorted(PHOTOS[:3])
    failed = dict(read_failed(out))
    assert set(failed) == {"corrupt.jpg", "missing.jpg", "web.jpg"} and "--download" in failed["web.jpg"]
    capsys.readouterr()
    assert main([*common, "--out", str(out)]) == 0 and "up to date" in capsys.readouterr().out
    merged = tmp_path / "merged"
    assert main([*common, "--out", str(merged), "--num-shards", "2", "--merge"]) == 1
    for i in ("0", "1"):
        assert main([*common, "--out", str(merged), "--num-shards", "2", "--shard-index", i]) == 0
    assert main([*common, "--out", str(merged), "--num-shards", "2", "--merge"]) == 0
    m = load_features(merged)
    assert sorted(m.ids) == sorted(single.ids) and len(read_failed(merged)) == 3
    for image_id in single.ids:
        np.testing.assert_allclose(
            m.matrix[m.row_of()[image_id]], single.matrix[single.row_of()[image_id]], atol=1e-2
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    (tmp_path / "www").mkdir()
    shutil.copy(SAMPLES / "coffee.png", tmp_path / "www" / "coffee.png")
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(tmp_path / "www"), **k)

        def do_GET(self) -> None:
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


def test_download_retries_and_cache(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, hits = server
    opts = FetchOptions(download=True, cache_dir=tmp_path / "cache", retries=3, backoff=0.0, timeout=5)
    path = fetch(f"{base}/coffee.png", opts)
    assert path.read_bytes() == (SAMPLES / "coffee.png").read_bytes()
    assert fetch(f"{base}/coffee.png", opts) == path and hits == ["/coffee.png"]  # second time from the cache
    with pytest.raises(ImageError, match="after 3 tries"):
        fetch(f"{base}/gone.png", opts)
    assert hits.count("/gone.png") == 3


def test_import_user_npy(tmp_path: Path) -> None:
    feats = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    (tmp_path / "ids.txt").write_text("a.jpg\nb.jpg\nc.jpg\n")
    out = tmp_path / "store"
    assert (
        main(
            [
                "features",
                "--import-npy",
                str(tmp_path / "f.npy"),
                "--ids",
                str(tmp_path / "ids.txt"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    store = load_features(out)
    assert store.ids == ["a.jpg", "b.jpg", "c.jpg"]
    np.testing.assert_allclose(store.matrix, feats, atol=1e-2)
    assert (
        main(
            [
                "features",
                "--import-npy",
                str(tmp_path / "f.npy"),
                "--ids",
                str(tmp_path / "ids.txt"),
                "--binarise",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert set(np.unique(load_features(out).matrix)) <= {0.0, 1.0}
    assert json.loads((out / "manifest.json").read_text())["binarised"] is True
    (tmp_path / "ids.txt").write_text("a.jpg\nb.jpg\n")
    assert (
        main(
            [
                "features",
                "--import-npy",
                str(tmp_path / "f.npy"),
                "--ids",
                str(tmp_path / "ids.txt"),
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert load_features(out).manifest["binarised"] is True  # previous store intact
    with pytest.raises(MmweError):
        from training.features.extract import import_npy

        import_npy(tmp_path / "missing.npy", tmp_path / "ids.txt", tmp_path)
