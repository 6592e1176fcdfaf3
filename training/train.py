"""Train one of the paper's models on a prepared corpus and export its input embeddings.

    python -m training train --model a --corpus data/corpus --features data/features --out data/emb-a
    torchrun --nproc_per_node 2 -m training train --model a ...     # data-parallel (gloo on CPU, nccl on GPU)

Defaults follow the paper (SGD, learning rate 1.0, 256 sentences per batch, gradient clipping 10, stop
when the validation loss stops falling). Checkpoints go to `<out>.ckpt/` (`--checkpoint-dir`); `--resume`
continues an interrupted run exactly where it stopped. The loop is the importable function
`train(TrainConfig)`.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from index.artifacts import write_embeddings
from index.corpus import SPECIALS, PreparedCorpus
from index.errors import MmweError
from index.image_model import IMAGE_KINDS
from training.checkpoint import load_checkpoint, save_checkpoint, save_json
from training.data import BatchStream, open_features
from training.device import pick_device, pick_precision
from training.image_export import features_identity, image_part
from training.init_embeddings import InitReport, aligned_init
from training.model import ModelConfig, MultimodalGRU
from training.optim import LrSchedule, OptimError, make_optimizer, planned_steps


@dataclass
class TrainConfig:
    corpus: str
    out: str
    features: str | None = None
    checkpoint_dir: str | None = None  # default: <out>.ckpt
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: str = "sgd"  # sgd | adam | adagrad
    lr: float = 1.0
    weight_decay: float = 0.0  # matrices only; AdamW for adam (training/optim.py)
    lr_schedule: str = "constant"  # constant | cosine | linear, per optimiser step over the planned steps
    warmup_steps: int = 0  # linear warmup steps before the schedule
    embed_lr_scale: float = 1.0  # lr multiplier of the word-embedding matrix (the output matrix if shared)
    batch_size: int = 256
    clip: float = 10.0
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    patience: int = 1  # evaluations without improvement before stopping
    min_delta: float = 1e-3
    max_minutes: float | None = None
    max_tokens: int | None = None
    max_steps: int | None = None
    eval_every: int = 0  # steps; 0 = once per epoch
    checkpoint_every: int = 1000  # steps
    max_len: int = 64
    seed: int = 0
    threads: int = 0  # 0 = torch's default
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    val_split: str = "val"
    init_embeddings: str | None = (
        None  # mmwe.embeddings artifact to start E from (training/init_embeddings.py)
    )
    init_scale: str = "std"  # std: rescale imported vectors to the init's std; none: as they are
    preset: str | None = None  # recorded only: --preset fills the flags above (train_cli.PRESETS)
    resume: bool = False
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.out + ".ckpt")


class TrainingError(MmweError):
    """The training job cannot run as configured."""


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _setup_distributed(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


_RESUME_KEYS = (
    "corpus",
    "features",
    "optimizer",
    "lr",
    "weight_decay",
    "lr_schedule",
    "warmup_steps",
    "embed_lr_scale",
    "batch_size",
    "max_len",
    "seed",
    "init_embeddings",
    "init_scale",
)


@dataclass
class TrainState:
    """Where a run is: saved in every checkpoint (as a dict) and restored on resume."""

    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0
    global_step: int = 0
    tokens: int = 0  # training tokens of all ranks
    train_seconds: float = 0.0  # without evaluation and checkpoint time
    best_val: float = math.inf
    best_epoch: int | None = None
    bad_evals: int = 0  # evaluations in a row without improvement (early stopping)
    history: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


class _Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.dist = _setup_distributed(self.device)
        self.precision = pick_precision(cfg.precision, self.device)
        if self.precision == "fp16" and self.device.type != "cuda":
            raise TrainingError("--precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
        self.is_main = self.dist.rank == 0
        self.corpus = PreparedCorpus(Path(cfg.corpus))
        if tuple(self.corpus.words[:4]) != SPECIALS:
            raise TrainingError(
                f"{self.corpus.path / 'vocab.tsv'}: first four words must be {', '.join(SPECIALS)}"
            )
        self.features = open_features(self.corpus, Path(cfg.features) if cfg.features else None)
        mc = copy.deepcopy(cfg.model)
        mc.vocab_size = self.corpus.vocab_size
        mc.feature_dim = self.features.dim if self.features is not None else 0
        if mc.uses_images and self.features is None:
            raise TrainingError(f"model {mc.kind!r} needs image features: pass --features DIR")
        if not mc.uses_images:
            self.features = None
            mc.feature_dim = 0
        if self.features is not None and self.is_main:
            f = self.features
            print(f"{f.num_matched:,} of {f.num_images:,} corpus images have a feature in {cfg.features}")
            if f.num_matched == 0:
                print("warning: no image ids match the feature store; the model trains as if text-only")
        self.model_config = ModelConfig(**asdict(mc))
        torch.manual_seed(cfg.seed)
        counts = torch.from_numpy(self.corpus.counts.astype("float64"))
        self.model = MultimodalGRU(self.model_config, counts)
        self.init_report: InitReport | None = None
        if cfg.init_embeddings:
            self.init_report = aligned_init(
                Path(cfg.init_embeddings),
                self.corpus.words,
                self.model.embedding.weight,
                target_std=self.model_config.embed_init_std,
                scale=cfg.init_scale,
                skip=len(SPECIALS),
            )
            if self.is_main:
                r = self.init_report
                print(
                    f"embeddings from {r.path}: {r.matched:,} words matched, {r.missing:,} random, "
                    f"scaled by {r.scale:.3g}"
                )
        self.model = self.model.to(self.device)
        self.module: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.module = DistributedDataParallel(self.model, device_ids=ids)
        try:
            self.optimizer = make_optimizer(
                cfg.optimizer,
                self.model,
                self.model.embedding.weight,
                cfg.lr,
                weight_decay=cfg.weight_decay,
                embed_lr_scale=cfg.embed_lr_scale,
            )
        except OptimError as exc:
            raise TrainingError(str(exc)) from exc
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed * 1000 + self.dist.rank)
        self.train_stream = BatchStream(
            self.corpus,
            "train",
            cfg.batch_size,
            features=self.features,
            max_len=cfg.max_len,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        if self.train_stream.batches_per_rank() == 0:
            raise TrainingError(
                f"{self.corpus.path / 'train'}: no training sentences for {self.dist.world_size} rank(s)"
            )
        has_val = any(True for _ in self.corpus.shard_paths(cfg.val_split))
        self.val_stream = (
            BatchStream(
                self.corpus,
                cfg.val_split,
                cfg.batch_size,
                features=self.features,
                max_len=cfg.max_len,
                shuffle=False,
                rank=self.dist.rank,
                world_size=self.dist.world_size,
            )
            if has_val
            else None
        )
        stream = self.train_stream
        self.schedule = LrSchedule(
            cfg.lr_schedule,
            cfg.warmup_steps,
            planned_steps(
                cfg.epochs,
                stream.batches_per_rank(),
                stream.num_tokens + stream.num_sentences,  # targets include <eos>
                cfg.max_steps,
                cfg.max_tokens,
            ),
        )
        self.state = TrainState()
        self.best_model: dict[str, torch.Tensor] | None = None
        self.ckpt_dir = cfg.checkpoint_path

    # ---- checkpoints -------------------------------------------------------------------------------------
    def _config_json(self) -> dict[str, Any]:
        data = self.cfg.to_dict()
        data["model"] = self.model_config.to_dict()
        data["precision_used"] = self.precision
        data["init"] = self.init_report.to_dict() if self.init_report else None
        data["world_size"] = self.dist.world_size
        data["schedule"] = self.schedule.to_dict()
        return data

    def save(self) -> None:
        if not self.is_main:
            return
        state = {
            "config": self._config_json(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "schedule": self.schedule.to_dict(),
            "state": asdict(self.state),
        }
        save_checkpoint(self.ckpt_dir / "last.pt", state)
        save_json(self.ckpt_dir / "config.json", self._config_json())
        save_json(self.ckpt_dir / "metrics.json", self.metrics())

    def resume(self) -> bool:
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return False
        ckpt = load_checkpoint(path)
        old = ckpt["config"]
        new = self._config_json()
        # keys a checkpoint of an older version lacks count as their default
        cfg_defaults, model_defaults = TrainConfig(corpus="", out="").to_dict(), ModelConfig().to_dict()
        diffs = [k for k in _RESUME_KEYS if old.get(k, cfg_defaults[k]) != new.get(k)] + [
            f"model.{k}" for k in new["model"] if old["model"].get(k, model_defaults[k]) != new["model"][k]
        ]
        saved_schedule = LrSchedule(**ckpt.get("schedule", self.schedule.to_dict()))
        if self.schedule.kind != "constant" and saved_schedule != self.schedule:
            diffs.append(
                f"planned schedule steps ({saved_schedule.total_steps} saved, "
                f"{self.schedule.total_steps} now)"
            )
        if diffs:
            raise TrainingError(f"{path}: cannot resume, the configuration differs in {', '.join(diffs)}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**ckpt["state"])
        if self.dist.world_size == 1 == old.get("world_size", 1):
            self.generator.set_state(ckpt["generator"])
        best = self.ckpt_dir / "best.pt"
        if best.exists():
            self.best_model = load_checkpoint(best)["model"]
        return True

    def metrics(self) -> dict[str, Any]:
        s = self.state
        last_val = next((h["val_loss"] for h in reversed(s.history) if h.get("val_loss") is not None), None)
        return {
            "epochs_completed": s.epoch,
            "global_step": s.global_step,
            "train_tokens": s.tokens,
            "train_seconds": round(s.train_seconds, 2),
            "tokens_per_second": round(s.tokens / s.train_seconds, 1) if s.train_seconds else None,
            "best_val_loss": None if math.isinf(s.best_val) else s.best_val,
            "best_epoch": s.best_epoch,
            "last_val_loss": last_val,
            "history": s.history,
            "precision": self.precision,
            "world_size": self.dist.world_size,
            "device": self.device.type,
        }

    # ---- loop --------------------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    @torch.no_grad()
    def validate(self) -> float | None:
        if self.val_stream is None:
            return None
        self.model.eval()
        total, count = 0.0, 0
        for batch in self.val_stream.epoch(self.cfg.seed, 0, drop_tail=False):
            b = batch.to(self.device)
            with self._autocast():
                s, n = self.model.exact_nll_sum(b.inputs, b.targets, b.lengths, b.features, b.has_image)
            total, count = total + s, count + n
        self.model.train()
        if self.dist.enabled:
            t = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            total, count = float(t[0]), int(t[1])
        return total / count if count else None

    def _evaluate(self, epoch_done: bool, train_loss: float | None) -> bool:
        """Validate, record, keep the best weights; return True when early stopping says stop."""
        val = self.validate()
        s = self.state
        s.history.append(
            {
                "epoch": s.epoch,
                "step": s.global_step,
                "tokens": s.tokens,
                "epoch_done": epoch_done,
                "train_loss": train_loss,
                "val_loss": val,
                "seconds": round(s.train_seconds, 2),
            }
        )
        if val is None:
            return False
        if val < s.best_val - self.cfg.min_delta:
            s.best_val, s.best_epoch, s.bad_evals = val, s.epoch, 0
            self.best_model = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            if self.is_main:
                save_checkpoint(
                    self.ckpt_dir / "best.pt", {"config": self._config_json(), "model": self.best_model}
                )
        else:
            s.bad_evals += 1
        return bool(s.bad_evals >= self.cfg.patience)

    def _budget_hit(self, time_over: bool | None = None) -> bool:
        c, s = self.cfg, self.state
        if time_over is None:
            time_over = c.max_minutes is not None and s.train_seconds >= 60 * c.max_minutes
        return bool(
            (c.max_steps is not None and s.global_step >= c.max_steps)
            or (c.max_tokens is not None and s.tokens >= c.max_tokens)
            or time_over
        )

    def _account(self, ntok: int, seconds: float) -> tuple[int, bool]:
        """Add one step's time; return (tokens of all ranks, time budget over on any rank).

        Under torchrun the ranks agree through one small all-reduce, so every rank stops at the same step.
        """
        s, c = self.state, self.cfg
        s.train_seconds += seconds
        time_over = c.max_minutes is not None and s.train_seconds >= 60 * c.max_minutes
        if not self.dist.enabled:
            return ntok, time_over
        t = torch.tensor([float(ntok), float(time_over)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return int(t[0]), bool(t[1] > 0)

    def step(self, batch: Any) -> tuple[float, int]:
        b = batch.to(self.device)
        with self._autocast():
            out = self.module(
                b.inputs, b.targets, b.lengths, b.features, b.has_image, generator=self.generator
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.apply(self.optimizer, self.state.global_step)
        self.scaler.scale(out["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(out["loss"].detach()), b.num_tokens

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        resumed = cfg.resume and self.resume()
        s = self.state
        if resumed and self.is_main:
            print(f"resumed from {self.ckpt_dir / 'last.pt'} at epoch {s.epoch}, step {s.step_in_epoch}")
        self.model.train()
        per_epoch = self.train_stream.batches_per_rank()
        stop = s.done or self._budget_hit()
        while not stop and s.epoch < cfg.epochs:
            bar = tqdm(
                total=per_epoch,
                initial=s.step_in_epoch,
                desc=f"epoch {s.epoch + 1}/{cfg.epochs}",
                disable=not (cfg.progress and self.is_main),
                dynamic_ncols=True,
            )
            ema: float | None = None
            window_tokens, window_start = 0, time.perf_counter()
            t0 = time.perf_counter()
            for batch in self.train_stream.epoch(cfg.seed, s.epoch, skip=s.step_in_epoch):
                loss, ntok = self.step(batch)
                ntok, time_over = self._account(ntok, time.perf_counter() - t0)  # batch building included
                s.step_in_epoch += 1
                s.global_step += 1
                s.tokens += ntok
                ema = loss if ema is None else 0.98 * ema + 0.02 * loss
                window_tokens += ntok
                bar.update(1)
                if s.global_step % 10 == 0:
                    rate = window_tokens / max(time.perf_counter() - window_start, 1e-9)
                    bar.set_postfix(loss=f"{ema:.3f}", tok_s=f"{rate:,.0f}")
                    window_tokens, window_start = 0, time.perf_counter()
                if cfg.eval_every and s.global_step % cfg.eval_every == 0 and self._evaluate(False, ema):
                    stop = True
                    break
                if self._budget_hit(time_over):
                    stop = True
                    break
                if cfg.checkpoint_every and s.global_step % cfg.checkpoint_every == 0:
                    self.save()
                t0 = time.perf_counter()  # evaluation and checkpoint time is not training time
            bar.close()
            if s.step_in_epoch >= per_epoch:
                s.epoch += 1
                s.step_in_epoch = 0
                stop = self._evaluate(True, ema) or stop
            elif stop and (not s.history or s.history[-1]["step"] != s.global_step):
                self._evaluate(False, ema)
            self.save()
        s.done = s.done or not self._budget_hit()  # a budget stop can be resumed with a larger budget
        self.save()
        return self.metrics()

    def export(self) -> dict[str, Any]:
        """Write the input embedding matrix (best validation weights) as an embeddings artifact."""
        if self.best_model is not None:
            self.model.load_state_dict(self.best_model)
        vectors = self.model.input_embeddings().numpy()[len(SPECIALS) :]
        words = self.corpus.words[len(SPECIALS) :]
        counts = self.corpus.counts[len(SPECIALS) :]
        man = self.corpus.manifest
        corpus_info = {
            "path": str(self.corpus.path.resolve()),
            "name": man.get("name", self.corpus.path.name),
            "num_sentences": self.train_stream.num_sentences,
            "num_tokens": self.train_stream.num_tokens,
        }
        return write_embeddings(
            Path(self.cfg.out),
            words,
            counts.tolist(),
            vectors,
            model_kind=self.model_config.kind,
            corpus=corpus_info,
            training=self._config_json(),
            metrics=self.metrics(),
            seed=self.cfg.seed,
            image=self._image_part(),
        )

    def _image_part(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Models A and A-noshare: what runs their first step without torch (training/image_export.py)."""
        if self.model_config.kind not in IMAGE_KINDS or not self.cfg.features:
            return None
        return image_part(self.model, features_identity(Path(self.cfg.features)))


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train, checkpoint, export; return the metrics. Under torchrun only rank 0 writes files."""
    trainer = _Trainer(cfg)
    try:
        metrics = trainer.run()
        if trainer.is_main:
            trainer.export()
        if trainer.dist.enabled:
            dist.barrier()
        return metrics
    finally:
        if trainer.dist.enabled and dist.is_initialized():
            dist.destroy_process_group()
