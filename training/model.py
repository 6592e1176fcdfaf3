"""The paper's GRU language models with image information (Mao et al. 2016, REFERENCE.md §1).

One module, `MultimodalGRU`, covers the five variants selected by `ModelConfig.kind`:

- `text`      pure-text RNN: h0 = 0, output projection shared with the input embedding (transposed).
- `a`         Model A: h0 = ReLU(W_I f + b) (image -> GRU hidden size), shared projection.
- `a-noshare` Model A with a separate output matrix.
- `b`         text RNN + lambda * mean_sentences || h_last - ReLU(W_B f + b) ||_2   (W_B: feature -> hidden)
- `c`         text RNN + lambda * mean_sentences mean_words || e_t - ReLU(W_C f + b) ||_2   (W_C: -> embed)

Data flow for one sentence w_1..w_n (the caller puts <bos> before the inputs and <eos> after the targets):

    e_t = E[x_t]                    [B, T, E]   input embedding (the vectors we export)
    h_t = GRU(e_t, h_{t-1}), h_0    [B, T, H]
    z_t = W_fc h_t + b_fc           [B, T, E]   the paper's "FC to 128": brings the state to embedding size
    logits_t = z_t O^T + b_out      [B, T, V]   O = E (shared: "transposed weight sharing") or its own matrix

Training uses a sampled softmax (1,024 negatives per batch, shared by every token of the batch, drawn with
probability proportional to log(1 + count), with the log-expected-count correction and accidental hits
removed) unless the vocabulary is small enough for the exact softmax (`softmax="auto"`). Validation always
uses the exact softmax, so losses of different models are comparable.

Sentences without an image feature (text-only corpora) get h0 = 0 and contribute nothing to the image terms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast, get_args

import torch
import torch.nn.functional as F
from torch import nn

from index.corpus import BOS, PAD
from training.gru import gru_sequence
from training.softmax import exact_nll_rows, exact_softmax_nll, fused_applies

ModelKind = Literal["text", "a", "a-noshare", "b", "c"]
MODEL_KINDS: tuple[ModelKind, ...] = get_args(ModelKind)


@dataclass
class ModelConfig:
    kind: ModelKind = "a"
    vocab_size: int = 0
    feature_dim: int = 0  # 0 = no image features (only the `text` model may train without them)
    embed_dim: int = 128
    hidden_dim: int = 512
    num_negatives: int = 1024
    softmax: str = "auto"  # auto | full | sampled
    full_softmax_max_vocab: int = 8192  # `auto` uses the exact softmax up to this vocabulary size
    image_loss_weight: float = 0.1  # lambda of Models B and C (the paper does not give it)
    embed_init_std: float = 0.1  # N(0, 1) barely moves in a few epochs (REFERENCE.md §1); 0.1 learns
    gate_bias: float = 1.0  # reset and update gate biases of the GRU
    dropout: float = 0.0  # on the GRU's input embeddings and on its outputs, training only (`dropout`)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {', '.join(MODEL_KINDS)}")
        if self.softmax not in ("auto", "full", "sampled"):
            raise ValueError(f"softmax must be auto, full or sampled, not {self.softmax!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def uses_images(self) -> bool:
        return self.kind != "text"

    @property
    def shares_weights(self) -> bool:
        """The output projection is the input embedding, transposed (all but `a-noshare`)."""
        return self.kind != "a-noshare"

    @property
    def image_sets_h0(self) -> bool:
        """Model A (and `a-noshare`): the image projection is the GRU's initial state."""
        return self.kind in ("a", "a-noshare")

    @property
    def image_state_loss(self) -> bool:
        """Model B: the loss pulls the final state towards the image projection."""
        return self.kind == "b"

    @property
    def image_word_loss(self) -> bool:
        """Model C: the loss pulls every word embedding towards the image projection."""
        return self.kind == "c"

    @property
    def use_full_softmax(self) -> bool:
        if self.softmax == "auto":
            return self.vocab_size <= self.full_softmax_max_vocab
        return self.softmax == "full"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def negative_log_probs(counts: torch.Tensor) -> torch.Tensor:
    """Sampling distribution q(w) proportional to log(1 + count(w)); <pad> and <bos> are never sampled."""
    weights = torch.log1p(counts.double().clamp(min=0))  # [V]
    weights[PAD] = 0.0
    weights[BOS] = 0.0
    if float(weights.sum()) <= 0:
        weights = torch.ones_like(weights)
    return (weights / weights.sum()).float()


def dropout(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p).

    The mask comes from `generator` (the trainer's seeded generator, saved in checkpoints), so a resumed
    run draws the same masks as an uninterrupted one.
    """
    if p <= 0.0:
        return x
    keep = torch.empty(x.shape, dtype=torch.float32, device=x.device).bernoulli_(1.0 - p, generator=generator)
    return x * (keep / (1.0 - p)).to(x.dtype)


class MultimodalGRU(nn.Module):
    neg_probs: torch.Tensor  # [V] buffer: the negative-sampling distribution
    log_kq: torch.Tensor  # [V] buffer: log(K q(w)), the sampled-softmax correction

    def __init__(self, config: ModelConfig, counts: torch.Tensor | None = None) -> None:
        super().__init__()
        if config.uses_images and config.feature_dim <= 0:
            raise ValueError(f"model {config.kind!r} needs image features (feature_dim > 0)")
        if config.vocab_size <= 4:
            raise ValueError(f"vocabulary of {config.vocab_size} words has nothing beyond the reserved ids")
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim)
        self.gru = nn.GRU(c.embed_dim, c.hidden_dim, batch_first=True)
        self.fc = nn.Linear(c.hidden_dim, c.embed_dim)  # state -> embedding size
        self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.out_weight: nn.Parameter | None = None
        if not c.shares_weights:
            self.out_weight = nn.Parameter(torch.empty(c.vocab_size, c.embed_dim))
        self.image_fc: nn.Linear | None = None
        if c.image_sets_h0 or c.image_state_loss:
            self.image_fc = nn.Linear(
                c.feature_dim, c.hidden_dim
            )  # image -> h0 (A) or final-state target (B)
        elif c.image_word_loss:
            self.image_fc = nn.Linear(c.feature_dim, c.embed_dim)  # image -> word-embedding target (C)
        if counts is None:
            counts = torch.ones(c.vocab_size)
        self.register_buffer("neg_probs", negative_log_probs(counts), persistent=False)
        self.register_buffer(
            "log_kq", torch.log(self.neg_probs.clamp(min=1e-12) * c.num_negatives), persistent=False
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        c = self.config
        nn.init.normal_(self.embedding.weight, 0.0, c.embed_init_std)
        if self.out_weight is not None:
            nn.init.normal_(self.out_weight, 0.0, c.embed_init_std)
        h = c.hidden_dim
        with torch.no_grad():
            # PyTorch packs the GRU biases as [reset | update | new]; the gates get `gate_bias`, the rest 0.
            bias_ih, bias_hh = (
                cast(torch.Tensor, self.gru.bias_ih_l0),
                cast(torch.Tensor, self.gru.bias_hh_l0),
            )
            bias_ih.zero_()
            bias_hh.zero_()
            bias_ih[: 2 * h].fill_(c.gate_bias)

    @property
    def output_weight(self) -> torch.Tensor:
        """The output projection O [V, E]: the input embedding itself when weights are shared."""
        return self.embedding.weight if self.out_weight is None else self.out_weight

    def image_projection(self, features: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
        """ReLU(W_I f + b), zeroed for sentences without an image.   [B, H] or [B, E] (Model C)"""
        assert self.image_fc is not None
        proj = F.relu(self.image_fc(features))
        return proj * has_image.unsqueeze(1).to(proj.dtype)

    def encode(
        self,
        inputs: torch.Tensor,
        features: torch.Tensor | None,
        has_image: torch.Tensor | None,
        emb: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        drop: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Return (embeddings [B,T,E], GRU outputs [B,T,H], image projection or None).

        `emb` passes embeddings already gathered for `inputs`. With `drop` (training) the GRU reads the
        embeddings through dropout (`config.dropout`, masks from `generator`); the embeddings returned are
        undropped (Model C's image term uses them). In float32 on the CPU the GRU runs through
        `training.gru.gru_sequence` (same function, faster backward); on GPUs (cuDNN) and under autocast
        through `nn.GRU`.
        """
        if emb is None:
            emb = self.embedding(inputs)  # [B, T, E]
        proj = None
        h0 = None
        if self.image_fc is not None and features is not None and has_image is not None:
            proj = self.image_projection(features, has_image)
            if self.config.image_sets_h0:
                h0 = proj.unsqueeze(0).contiguous()  # [1, B, H]
        x = dropout(emb, self.config.dropout, generator) if drop else emb  # [B, T, E]
        if x.device.type == "cpu" and not torch.is_autocast_enabled("cpu"):
            out = gru_sequence(self.gru, x, h0)  # [B, T, H]
        else:
            out, _ = self.gru(x, h0)  # [B, T, H]
        return emb, out, proj

    def forward(
        self,
        inputs: torch.Tensor,  # [B, T] <bos> w_1 .. w_n, <pad> after
        targets: torch.Tensor,  # [B, T] w_1 .. w_n <eos>, <pad> after
        lengths: torch.Tensor,  # [B] n + 1
        features: torch.Tensor | None = None,  # [B, F]
        has_image: torch.Tensor | None = None,  # [B] bool
        full_softmax: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training losses: `loss` = `nll` (mean over real tokens) + lambda * `image` (Models B and C).

        In training mode with `config.dropout` > 0, dropout (masks from `generator`) applies to the GRU's
        input embeddings and to the GRU outputs that predict the next word, not to Model B's final state.
        """
        steps = torch.arange(inputs.shape[1], device=inputs.device)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)  # [B, T]
        y = targets[mask]  # [N]
        use_full = self.config.use_full_softmax if full_softmax is None else full_softmax
        neg = None if use_full else self.sample_negatives(generator, inputs.device)  # [K]
        emb = out_rows = None
        if neg is not None and self.out_weight is None:
            # Shared weights: one gather for the inputs, the targets and the negatives, so the backward pass
            # scatters into the [V, E] gradient once instead of three times.
            rows = F.embedding(torch.cat([inputs.reshape(-1), y, neg]), self.embedding.weight)
            emb = rows[: inputs.numel()].view(*inputs.shape, -1)  # [B, T, E]
            out_rows = rows[inputs.numel() :]  # [N + K, E]
        emb, out, proj = self.encode(inputs, features, has_image, emb, generator, drop=self.training)
        h = out[mask]  # [N, H]  only real tokens
        z = self.fc(dropout(h, self.config.dropout, generator) if self.training else h)  # [N, E]
        nll = self.full_nll(z, y) if neg is None else self.sampled_nll(z, y, neg, out_rows)
        image = torch.zeros((), device=inputs.device)
        if proj is not None and has_image is not None:
            n_img = has_image.sum().clamp(min=1).to(proj.dtype)
            if self.config.image_state_loss:
                last = out[torch.arange(out.shape[0], device=out.device), lengths - 1]  # [B, H]
                dist = torch.linalg.vector_norm(last.float() - proj.float(), dim=1)  # [B]
                image = (dist * has_image).sum() / n_img
            elif self.config.image_word_loss:
                words = mask.clone()
                words[:, 0] = False  # position 0 is <bos>; e_t runs over the sentence's words
                dist = torch.linalg.vector_norm(emb.float() - proj.float().unsqueeze(1), dim=2)  # [B, T]
                per_sentence = (dist * words).sum(1) / words.sum(1).clamp(min=1)  # [B]
                image = (per_sentence * has_image).sum() / n_img
        loss = nll + self.config.image_loss_weight * image
        return {"loss": loss, "nll": nll.detach(), "image": image.detach()}

    def full_logits(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.output_weight.t().to(z.dtype) + self.out_bias.to(z.dtype)  # [N, V]

    def full_nll(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean exact-softmax NLL; outside autocast through `training.softmax` (fewer passes, same value)."""
        if fused_applies(z, self.output_weight):
            return exact_softmax_nll(z, self.output_weight, self.out_bias, y)
        return F.cross_entropy(self.full_logits(z).float(), y)

    def sample_negatives(self, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """K word ids drawn with replacement from q (log-frequency), shared by the batch.   [K]"""
        neg = torch.multinomial(
            self.neg_probs, self.config.num_negatives, replacement=True, generator=generator
        )
        return neg.to(device)

    def sampled_nll(
        self, z: torch.Tensor, y: torch.Tensor, neg: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Sampled softmax over the true word and the negatives `neg`, logits corrected by -log(K q(w)).

        `rows` [N + K, E] are the output-projection rows of y then neg when the caller gathered them already.
        A negative equal to the token's own target (an accidental hit) is removed from that token's softmax.
        """
        n = y.shape[0]
        if rows is None:
            rows = F.embedding(torch.cat([y, neg]), self.output_weight)  # [N + K, E]
        w_true, w_neg = rows[:n].to(z.dtype), rows[n:].to(z.dtype)
        true_logit = (z * w_true).sum(1).float() + self.out_bias[y] - self.log_kq[y]  # [N]
        neg_bias = (self.out_bias[neg] - self.log_kq[neg]).to(z.dtype)  # [K]
        neg_logit = torch.addmm(neg_bias, z, w_neg.t()).float()  # [N, K]
        hit_tokens = torch.isin(y, neg).nonzero().squeeze(1)  # tokens whose target was drawn: few
        if hit_tokens.numel():
            row, col = (y[hit_tokens].unsqueeze(1) == neg.unsqueeze(0)).nonzero(as_tuple=True)
            neg_logit.index_put_(
                (hit_tokens[row], col), neg_logit.new_tensor(-math.inf)
            )  # addmm keeps no output
        # -log softmax of the true logit among [true, negatives], without materialising the concatenation
        return (torch.logaddexp(true_logit, torch.logsumexp(neg_logit, dim=1)) - true_logit).mean()

    @torch.no_grad()
    def exact_nll_sum(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        lengths: torch.Tensor,
        features: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
        chunk: int = 4096,
    ) -> tuple[float, int]:
        """Summed exact-softmax negative log-likelihood and token count (validation)."""
        _, out, _ = self.encode(inputs, features, has_image)
        steps = torch.arange(inputs.shape[1], device=inputs.device)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        z = self.fc(out[mask])
        y = targets[mask]
        total = 0.0
        fused = fused_applies(z, self.output_weight)
        for i in range(0, len(y), chunk):
            zc, yc = z[i : i + chunk], y[i : i + chunk]
            if fused:
                total += float(exact_nll_rows(zc, self.output_weight, self.out_bias, yc)[0].sum())
            else:
                total += float(F.cross_entropy(self.full_logits(zc).float(), yc, reduction="sum"))
        return total, int(len(y))

    def input_embeddings(self) -> torch.Tensor:
        """The input embedding matrix [V, E] (the paper's downstream word vectors)."""
        return self.embedding.weight.detach().float().cpu()
