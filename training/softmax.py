"""The exact softmax loss over the whole vocabulary, with fewer passes over the [N, V] logits.

`F.cross_entropy(z @ O^T + b, y)` passes over the N x V logits again and again besides its three matrix
products: the bias add, the log-softmax, the zero fill and scatter of the NLL backward, the log-softmax
backward and the bias gradient. On Flickr8k + COCO (6.9k words, about 2,900 tokens per batch) these
element passes cost more CPU time than the products (docs/training.md, "The real loop on Flickr8k + COCO").
`exact_softmax_nll` computes the same loss and gradients with the bias folded into the product (`addmm`),
the exponentials written in place over the logits, and a backward pass that turns them into the gradient in
place:

    nll_i = max_i + log sum_v exp(l_iv - max_i) - l_{i,y_i}
    d nll / d l_iv = g / N * (softmax_iv - [v = y_i])

Same function as `F.cross_entropy` up to float rounding (tested against it in float64). It runs where the
inputs and the weight share one floating dtype outside autocast (fp32 training, float64 tests); under
autocast the model keeps `F.cross_entropy` on the upcast logits.
"""

from __future__ import annotations

from typing import Any

import torch


def exact_nll_rows(
    z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token NLL [N] of the targets y under softmax(z W^T + b), and what the gradient needs:
    exp(l - max) [N, V] (computed in place over the logits) and its row sums [N, 1]."""
    logits = torch.addmm(bias, z, weight.t())  # [N, V]
    true = logits.gather(1, y.unsqueeze(1))  # [N, 1]
    peak = logits.amax(1, keepdim=True)  # [N, 1]
    expd = logits.sub_(peak).exp_()  # [N, V] in place: exp(l - max)
    total = expd.sum(1, keepdim=True)  # [N, 1]
    nll = (peak + total.log() - true).squeeze(1)  # [N]
    return nll, expd, total


class _ExactSoftmaxNLL(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        nll, expd, total = exact_nll_rows(z, weight, bias, y)
        ctx.save_for_backward(z, weight, expd, total, y)
        ctx.consumed = False
        return nll.mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.consumed:  # the saved exponentials became the gradient in place
            raise RuntimeError("exact_softmax_nll: backward can run only once (no retain_graph)")
        ctx.consumed = True
        z, weight, expd, total, y = ctx.saved_tensors
        n = y.shape[0]
        scale = grad / n
        d_logits = expd.mul_(scale / total)  # g/N * softmax, in place   [N, V]
        rows = torch.arange(n, device=y.device)
        d_logits[rows, y] -= scale
        need_z, need_w, need_b, _ = ctx.needs_input_grad
        dz = d_logits @ weight if need_z else None  # [N, E]
        dw = d_logits.t() @ z if need_w else None  # [V, E]
        db = d_logits.sum(0) if need_b else None  # [V]
        return dz, dw, db, None


def fused_applies(z: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `exact_softmax_nll` can take these inputs: one floating dtype, autocast off."""
    return (
        z.dtype == weight.dtype
        and z.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled(z.device.type)
    )


def exact_softmax_nll(
    z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Mean negative log-likelihood of y [N] under softmax(z [N, E] weight[V, E]^T + bias [V])."""
    out: torch.Tensor = _ExactSoftmaxNLL.apply(z, weight, bias, y)  # type: ignore[no-untyped-call]
    return out
