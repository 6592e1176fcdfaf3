"""`training.gru.gru_sequence` computes exactly what `nn.GRU` computes, forward and backward."""

from __future__ import annotations

import pytest
import torch

from training.gru import gru_sequence


def _grads(
    gru: torch.nn.GRU, x: torch.Tensor, h0: torch.Tensor | None, use_custom: bool
) -> list[torch.Tensor]:
    for p in gru.parameters():
        p.grad = None
    x = x.detach().clone().requires_grad_()
    h = None if h0 is None else h0.detach().clone().requires_grad_()
    out = gru_sequence(gru, x, h) if use_custom else gru(x, h)[0]
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    grads = [out.detach(), x.grad] + [p.grad for p in gru.parameters()]
    if h is not None:
        grads.append(h.grad)
    return [g for g in grads if g is not None]


@pytest.mark.parametrize("with_h0", [False, True])
def test_outputs_and_every_gradient_match_nn_gru_in_float64(with_h0: bool) -> None:
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 7, batch_first=True).double()
    with torch.no_grad():
        gru.bias_ih_l0.uniform_(-1, 1)
        gru.bias_hh_l0.uniform_(-1, 1)
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    h0 = torch.randn(1, 3, 7, dtype=torch.float64) if with_h0 else None
    expected = _grads(gru, x, h0, use_custom=False)
    got = _grads(gru, x, h0, use_custom=True)
    assert len(got) == len(expected) == (7 if with_h0 else 6)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape
        assert torch.allclose(g.double(), e, atol=1e-5), (g - e).abs().max()


def test_float32_training_shapes_match_nn_gru() -> None:
    torch.manual_seed(1)
    gru = torch.nn.GRU(16, 32, batch_first=True)
    x = torch.randn(8, 11, 16)
    for e, g in zip(_grads(gru, x, None, False), _grads(gru, x, None, True), strict=True):
        assert torch.allclose(g, e, atol=1e-4)


def test_no_grad_forward_and_unsupported_configurations() -> None:
    gru = torch.nn.GRU(4, 6, batch_first=True)
    x = torch.randn(2, 3, 4)
    with torch.no_grad():
        assert torch.allclose(gru_sequence(gru, x), gru(x)[0], atol=1e-6)
    with pytest.raises(ValueError, match="single-layer"):
        gru_sequence(torch.nn.GRU(4, 6, num_layers=2, batch_first=True), x)
    with pytest.raises(ValueError, match="batch-first"):
        gru_sequence(torch.nn.GRU(4, 6), x)
