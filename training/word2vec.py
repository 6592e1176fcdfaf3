"""The word2vec baseline: gensim skip-gram (or CBOW) on a prepared corpus, exported as an embeddings artifact.

    python -m training word2vec --corpus data/corpus/demo --out data/embeddings/word2vec

Re-running with an existing output is a no-op unless --force (the artifact is replaced atomically).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.artifacts import write_embeddings
from index.corpus import SPECIALS, PreparedCorpus

log = logging.getLogger("mmwe.word2vec")


@dataclass
class Word2VecConfig:
    dim: int = 128
    window: int = 5
    negative: int = 5
    sg: bool = True
    epochs: int = 5
    min_count: int = 1
    sample: float = 1e-3
    workers: int = 2
    seed: int = 0


def write_text_corpus(corpus: PreparedCorpus, path: Path, split: str = "train") -> tuple[int, int]:
    """Write one sentence per line (space-separated words, `<unk>` dropped) for gensim's corpus_file mode."""
    words = np.asarray(corpus.words, dtype=object)
    n_sent = n_tok = 0
    with open(path, "w", encoding="utf-8") as f:
        for shard in tqdm(list(corpus.shards(split)), desc="export text", unit="shard", leave=False):
            for i in range(len(shard)):
                ids = shard.sentence(i)
                ids = ids[ids >= len(SPECIALS)]
                if len(ids):
                    f.write(" ".join(words[ids]))
                    f.write("\n")
                    n_sent += 1
                    n_tok += len(ids)
    return n_sent, n_tok


class _Progress:
    """gensim callback: a tqdm bar over epochs with the running loss."""

    def __init__(self, epochs: int) -> None:
        self.bar = tqdm(total=epochs, desc="word2vec", unit="epoch")
        self.previous = 0.0
        self.losses: list[float] = []

    def on_epoch_end(self, model: Any) -> None:
        total = float(model.get_latest_training_loss())
        self.losses.append(total - self.previous)
        self.previous = total
        self.bar.set_postfix(loss=f"{self.losses[-1]:.4g}")
        self.bar.update(1)

    def __getattr__(self, name: str) -> Any:  # gensim calls on_train_begin, on_epoch_begin, ...
        if name.startswith("on_"):
            return lambda model: None
        raise AttributeError(name)


def train_word2vec(corpus_dir: Path, out: Path, config: Word2VecConfig) -> dict[str, Any]:
    from gensim.models import Word2Vec

    corpus = PreparedCorpus(corpus_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mmwe-w2v-") as tmp:
        text = Path(tmp) / "train.txt"
        n_sent, n_tok = write_text_corpus(corpus, text)
        if n_tok == 0:
            raise ValueError(f"{corpus_dir}: the train split has no tokens")
        progress = _Progress(config.epochs)
        model = Word2Vec(
            corpus_file=str(text),
            vector_size=config.dim,
            window=config.window,
            negative=config.negative,
            sg=int(config.sg),
            epochs=config.epochs,
            min_count=config.min_count,
            sample=config.sample,
            workers=config.workers,
            seed=config.seed,
            compute_loss=True,
            callbacks=[progress],
        )
        progress.bar.close()
    seconds = time.perf_counter() - started
    wv = model.wv
    words = list(wv.index_to_key)
    counts = [int(wv.get_vecattr(w, "count")) for w in words]
    metrics = {"train_seconds": round(seconds, 2), "epoch_losses": progress.losses, "train_tokens": n_tok}
    return write_embeddings(
        out,
        words,
        counts,
        np.asarray(wv.vectors, dtype=np.float32),
        model_kind="word2vec",
        corpus={
            "path": str(Path(corpus_dir).resolve()),
            "name": Path(corpus_dir).name,
            "num_sentences": n_sent,
            "num_tokens": n_tok,
        },
        training={"trainer": "gensim.Word2Vec", **asdict(config)},
        metrics=metrics,
        seed=config.seed,
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("word2vec", help="train the word2vec baseline (gensim) on a prepared corpus")
    p.add_argument(
        "--corpus", type=Path, required=True, help="prepared corpus directory (python -m training prepare)"
    )
    p.add_argument("--out", type=Path, required=True, help="embeddings directory to write")
    p.add_argument("--dim", type=int, default=128, help="vector size (default 128, as the paper's models)")
    p.add_argument("--window", type=int, default=5, help="context window (default 5)")
    p.add_argument("--negative", type=int, default=5, help="negative samples per positive (default 5)")
    p.add_argument("--cbow", action="store_true", help="train CBOW instead of skip-gram")
    p.add_argument("--epochs", type=int, default=5, help="passes over the corpus (default 5)")
    p.add_argument("--sample", type=float, default=1e-3, help="down-sampling threshold of frequent words")
    p.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="retrain even if --out already holds embeddings")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if (args.out / "manifest.json").exists() and not args.force:
        print(f"{args.out} already exists; use --force to retrain")
        return 0
    config = Word2VecConfig(
        dim=args.dim,
        window=args.window,
        negative=args.negative,
        sg=not args.cbow,
        epochs=args.epochs,
        sample=args.sample,
        workers=args.workers,
        seed=args.seed,
    )
    manifest = train_word2vec(args.corpus, args.out, config)
    seconds = manifest["metrics"]["train_seconds"]
    print(f"wrote {args.out}: {manifest['vocab_size']} words x {manifest['dim']} ({seconds} s)")
    return 0
