"""Running a backbone over a list of images, resumably, into an `mmwe.features` store (docs/formats.md §3).

`extract_to_work` fills a work folder: `rows.f16` (float16 [count, dim] memmap), `status.u8` (0 pending,
1 done, 2 failed), `reasons.tsv` (row<TAB>reason) and `state.json` (fingerprint, count, dim). It is flushed
every few batches, rows before status, so an interrupted run resumes where it stopped. `finalize` compacts
the done rows into the store folder. `merge_stores` concatenates the stores of several shards, and
`import_npy` stores a user's own precomputed `.npy` features. CLI: training/features/cli.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from index.errors import MmweError
from training.device import pick_device
from training.features.backbones import Backbone
from training.features.images import FetchOptions, ImageDataset
from training.features.store import FeatureWriter, load_features, read_failed

PENDING, DONE, FAILED = 0, 1, 2
FLUSH_EVERY = 8  # batches


def _open_work(work: Path, fingerprint: str, count: int, dim: int) -> tuple[np.memmap, np.memmap]:
    state_path = work / "state.json"
    state = {"fingerprint": fingerprint, "count": count, "dim": dim}
    fresh = True
    if state_path.exists():
        try:
            fresh = json.loads(state_path.read_text()) != state
        except ValueError:
            fresh = True
    if fresh:
        work.mkdir(parents=True, exist_ok=True)
        for name in ("rows.f16", "status.u8", "reasons.tsv"):
            (work / name).unlink(missing_ok=True)
        np.memmap(work / "rows.f16", dtype="<f2", mode="w+", shape=(max(count, 1), dim)).flush()
        np.memmap(work / "status.u8", dtype="u1", mode="w+", shape=(max(count, 1),)).flush()
        (work / "reasons.tsv").touch()
        state_path.write_text(json.dumps(state))
    rows = np.memmap(work / "rows.f16", dtype="<f2", mode="r+", shape=(max(count, 1), dim))
    status = np.memmap(work / "status.u8", dtype="u1", mode="r+", shape=(max(count, 1),))
    return rows, status


def extract_to_work(
    refs: list[str],
    backbone: Backbone,
    work: Path,
    fingerprint: str,
    *,
    batch_size: int = 32,
    loader_workers: int = 1,
    device: torch.device | None = None,
    fetch_options: FetchOptions | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Compute the features of `refs` (paths/URLs; row i = refs[i]) into `work`; return timing figures."""
    device = device or pick_device()
    rows, status = _open_work(work, fingerprint, len(refs), backbone.dim)
    pending = [(i, refs[i]) for i in range(len(refs)) if status[i] == PENDING]
    dataset = ImageDataset(pending, backbone.preprocessing, fetch_options or FetchOptions())
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=loader_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    module = backbone.module.to(device).eval()
    done = failed = 0
    start = time.perf_counter()
    bar = tqdm(
        total=len(refs),
        initial=len(refs) - len(pending),
        desc=f"features {backbone.name}",
        unit=" img",
        disable=not progress,
    )
    with open(work / "reasons.tsv", "a", encoding="utf-8") as reasons, torch.inference_mode():
        for step, (row_ids, x, why) in enumerate(loader):
            ok = torch.tensor([not r for r in why], dtype=torch.bool)
            good_rows = row_ids[ok].numpy()
            if len(good_rows):
                feats = module(x[ok].to(device, non_blocking=True))  # [b, dim]
                rows[good_rows] = feats.float().cpu().numpy().astype("<f2")
            for r, reason in zip(row_ids.tolist(), why, strict=True):
                if reason:
                    reasons.write(f"{r}\t{reason}\n")
            status[good_rows] = DONE
            status[row_ids[~ok].numpy()] = FAILED
            done += len(good_rows)
            failed += int((~ok).sum())
            if step % FLUSH_EVERY == FLUSH_EVERY - 1:  # rows and reasons reach disk before their status
                rows.flush()
                reasons.flush()
                status.flush()
            bar.update(len(row_ids))
            bar.set_postfix(failed=failed, refresh=False)
    bar.close()
    rows.flush()
    status.flush()
    seconds = time.perf_counter() - start
    return {
        "images_this_run": done + failed,
        "seconds_this_run": round(seconds, 2),
        "images_per_second": round((done + failed) / seconds, 2) if seconds > 0 else None,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }


def finalize(
    work: Path, ids: list[str], out: Path, backbone: Backbone, extra: dict[str, Any]
) -> dict[str, Any]:
    """Write the store into the (temporary, empty) folder `out` from a completed work folder."""
    count = len(ids)
    rows = np.memmap(work / "rows.f16", dtype="<f2", mode="r", shape=(max(count, 1), backbone.dim))
    status = np.fromfile(work / "status.u8", dtype="u1")[:count]
    if (status == PENDING).any():
        raise MmweError(f"{work}: {int((status == PENDING).sum())} images still pending; run again to resume")
    reasons: dict[int, str] = {}
    with open(work / "reasons.tsv", encoding="utf-8") as f:
        for line in f:
            row, _, reason = line.rstrip("\n").partition("\t")
            reasons[int(row)] = reason
    writer = FeatureWriter(out, backbone.dim)
    block = 4096
    for lo in range(0, count, block):
        hi = min(lo + block, count)
        keep = np.flatnonzero(status[lo:hi] == DONE) + lo
        writer.add([ids[i] for i in keep], rows[keep])
        for i in np.flatnonzero(status[lo:hi] == FAILED) + lo:
            writer.fail(ids[i], reasons.get(int(i), "unreadable image"))
    return writer.close(
        backbone=backbone.name,
        binarised=backbone.binarised,
        preprocessing=asdict(backbone.preprocessing),
        backbone_info=backbone.info,
        **extra,
    )


def merge_stores(parts: list[Path], out: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Concatenate several feature stores (same backbone and dim) into the temporary folder `out`."""
    stores = [load_features(p) for p in parts]
    keys = {(s.manifest.get("backbone"), s.dim, bool(s.manifest.get("binarised"))) for s in stores}
    if len(keys) != 1:
        raise MmweError(f"cannot merge feature stores of different backbones/dims: {sorted(map(str, keys))}")
    writer = FeatureWriter(out, stores[0].dim)
    seen: set[str] = set()
    for part, store in zip(parts, stores, strict=True):
        dup = seen.intersection(store.ids)
        if dup:
            raise MmweError(f"{part}: image ids already in an earlier part, e.g. {sorted(dup)[0]!r}")
        seen.update(store.ids)
        for lo in range(0, len(store.ids), 4096):
            writer.add(store.ids[lo : lo + 4096], store.matrix[lo : lo + 4096])
        for image_id, reason in read_failed(part):
            writer.fail(image_id, reason)
    first = stores[0].manifest
    keep = {k: first[k] for k in ("backbone", "binarised", "preprocessing", "backbone_info") if k in first}
    return writer.close(**keep, merged_from=[str(p) for p in parts], **extra)


def read_id_list(path: Path) -> list[str]:
    """Image ids, one a line (the first tab-separated field); errors name the file and line."""
    ids: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            image_id = line.rstrip("\n").split("\t")[0]
            if not image_id:
                raise MmweError(f"{path}: line {lineno}: empty image id")
            ids.append(image_id)
    return ids


def import_npy(
    npy: Path, ids_path: Path, out: Path, binarise: bool = False, name: str = "user"
) -> dict[str, Any]:
    """Store a user's [N, D] `.npy` features with their N ids (one a line) into the temporary folder `out`."""
    try:
        matrix = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MmweError(f"{npy}: not a readable .npy array: {exc}") from exc
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise MmweError(f"{npy}: expected a numeric [N, D] array, found {matrix.dtype} {matrix.shape}")
    ids = read_id_list(ids_path)
    if len(ids) != matrix.shape[0]:
        raise MmweError(f"{ids_path}: {len(ids)} ids for {matrix.shape[0]} rows of {npy}")
    if len(set(ids)) != len(ids):
        raise MmweError(f"{ids_path}: duplicate image ids")
    writer = FeatureWriter(out, int(matrix.shape[1]))
    for lo in range(0, len(ids), 4096):
        block = np.asarray(matrix[lo : lo + 4096], dtype=np.float32)
        if not np.isfinite(block).all():
            raise MmweError(f"{npy}: rows {lo}..{lo + len(block) - 1} contain NaN or infinity")
        if binarise:
            block = (block > 0).astype(np.float32)
        elif np.abs(block).max(initial=0) > 65504:
            raise MmweError(f"{npy}: values beyond float16 range (max |x| 65504); rescale them first")
        writer.add(ids[lo : lo + 4096], block)
    return writer.close(backbone=name, binarised=binarise, source={"npy": str(npy), "ids": str(ids_path)})
