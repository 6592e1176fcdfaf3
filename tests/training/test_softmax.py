"""The fused exact-softmax loss (training/softmax.py) against F.cross_entropy, and where the model uses it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.model import ModelConfig, MultimodalGRU
from training.softmax import exact_nll_rows, exact_softmax_nll, fused_applies


def inputs(dtype: torch.dtype, n: int = 37, v: int = 53, e: int = 7) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(n, e, generator=g, dtype=dtype)).requires_grad_()  # large logits: max shift matters
    w = torch.randn(v, e, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g)
    y[:5] = y[0]  # repeated targets
    return z, w, b, y


def test_loss_and_every_gradient_match_cross_entropy_in_float64() -> None:
    z, w, b, y = inputs(torch.float64)
    expected = F.cross_entropy(z @ w.t() + b, y)
    grads = torch.autograd.grad(3.0 * expected, (z, w, b))
    got = exact_softmax_nll(z, w, b, y)
    got_grads = torch.autograd.grad(3.0 * got, (z, w, b))  # a non-unit upstream gradient
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    for g, e in zip(got_grads, grads, strict=True):
        assert torch.allclose(g, e, rtol=1e-10, atol=1e-12)


def test_per_token_rows_match_and_float32_agrees() -> None:
    z, w, b, y = inputs(torch.float64)
    with torch.no_grad():
        nll, expd, total = exact_nll_rows(z, w, b, y)
        expected = F.cross_entropy(z @ w.t() + b, y, reduction="none")
    assert torch.allclose(nll, expected, rtol=1e-12)
    assert torch.allclose(expd / total, torch.softmax(z @ w.t() + b, 1).detach(), rtol=1e-10)
    z32, w32, b32, y32 = (t.detach().float() if t.is_floating_point() else t for t in (z, w, b, y))
    assert torch.allclose(exact_softmax_nll(z32, w32, b32, y32), expected.mean().float(), rtol=1e-5)


def test_a_second_backward_is_refused() -> None:
    z, w, b, y = inputs(torch.float64)
    loss = exact_softmax_nll(z, w, b, y)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()


def test_fused_path_only_for_one_float_dtype_outside_autocast() -> None:
    w = torch.zeros(4, 3)
    assert fused_applies(torch.zeros(2, 3), w)
    assert not fused_applies(torch.zeros(2, 3, dtype=torch.bfloat16), w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_applies(torch.zeros(2, 3), w)


@pytest.mark.parametrize("kind", ["text", "a-noshare"])
def test_model_training_loss_and_validation_sum_equal_the_cross_entropy_path(kind: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, vocab_size=40, feature_dim=5, embed_dim=6, hidden_dim=8, softmax="full")
    model = MultimodalGRU(cfg).double()
    inputs_ = torch.randint(4, 40, (3, 5))
    targets = torch.randint(4, 40, (3, 5))
    lengths = torch.tensor([5, 3, 4])
    feats, has = torch.rand(3, 5, dtype=torch.float64), torch.tensor([True, False, True])
    out = model(inputs_, targets, lengths, feats, has)
    grads = torch.autograd.grad(out["loss"], list(model.parameters()), allow_unused=True)
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    _, states, _ = model.encode(inputs_, feats, has)
    expected = F.cross_entropy(model.full_logits(model.fc(states[mask])), targets[mask])
    expected_grads = torch.autograd.grad(expected, list(model.parameters()), allow_unused=True)
    assert torch.allclose(out["loss"], expected, rtol=1e-12)
    for g, e in zip(grads, expected_grads, strict=True):
        assert (g is None) == (e is None)
        if g is not None and e is not None:
            assert torch.allclose(g, e, rtol=1e-9, atol=1e-12)
    total, count = model.exact_nll_sum(inputs_, targets, lengths, feats, has, chunk=4)  # several chunks
    assert count == int(lengths.sum())
    assert total == pytest.approx(float(expected.detach()) * count, rel=1e-12)
