"""A single-layer GRU with a hand-written backward pass, for training on the CPU.

`nn.GRU` on the CPU runs autograd through the unrolled cell: its backward pass multiplies small matrices at
every time step for the weight gradients and accumulates them one by one. `gru_sequence` computes the same
function (PyTorch's GRU equations and parameter layout) but its backward pass only does the unavoidable
per-step product dH_{t-1} = dG_t W_hh; the weight and input gradients come from three large matrix products
over all time steps at once, and every elementwise step works in place. bench/train_bench.py measures the
difference; `MultimodalGRU` uses it for float32 training on the CPU, and keeps `nn.GRU` on GPUs (cuDNN) and
under bf16 autocast (whose matrix products `nn.GRU` runs in bf16 on CPUs with bf16 units).

Equations (gate order r, z, n as in `nn.GRU`):

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h
"""

from __future__ import annotations

from typing import Any, cast

import torch


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,  # [T, B, E] time-major
        h0: torch.Tensor,  # [B, H]
        w_ih: torch.Tensor,  # [3H, E]
        w_hh: torch.Tensor,  # [3H, H]
        b_ih: torch.Tensor,  # [3H]
        b_hh: torch.Tensor,  # [3H]
    ) -> torch.Tensor:
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        gi = torch.addmm(b_ih, x.reshape(steps * batch, -1), w_ih.t()).view(steps, batch, 3 * hidden)
        out = x.new_empty(steps + 1, batch, hidden)  # out[0] = h0, out[t + 1] = h_t
        out[0] = h0
        gates = x.new_empty(steps, batch, 3 * hidden)  # r, z, n of each step
        gh = x.new_empty(steps, batch, 3 * hidden)  # W_hh h + b_hh of each step (its n part: hn)
        for t in range(steps):
            h = out[t]
            torch.addmm(b_hh, h, w_hh.t(), out=gh[t])  # [B, 3H]
            rz = torch.add(gi[t, :, : 2 * hidden], gh[t, :, : 2 * hidden], out=gates[t, :, : 2 * hidden])
            rz.sigmoid_()
            r, z = rz[:, :hidden], rz[:, hidden:]
            n = torch.addcmul(
                gi[t, :, 2 * hidden :], r, gh[t, :, 2 * hidden :], out=gates[t, :, 2 * hidden :]
            )
            n.tanh_()
            torch.addcmul(n, z, h - n, out=out[t + 1])  # h' = n + z (h - n)
        if ctx.needs_input_grad[0] or any(ctx.needs_input_grad[1:]):
            ctx.save_for_backward(x, w_ih, w_hh, out, gates, gh)
        return out[1:]  # [T, B, H]

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w_ih, w_hh, out, gates, gh = ctx.saved_tensors
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        r, z, n = gates[..., :hidden], gates[..., hidden : 2 * hidden], gates[..., 2 * hidden :]  # [T, B, H]
        # Local derivatives of every step at once (large elementwise passes), so the sequential loop below
        # only multiplies by them:  d_pre_n = dh c_n,  d_pre_z = dh c_z,  d_pre_r = d_pre_n c_r.
        c_n = (1 - z) * (1 - n * n)  # d h' / d(i_n + r hn)
        c_z = (out[:-1] - n) * z * (1 - z)  # d h' / d(i_z + h_z)
        c_r = gh[..., 2 * hidden :] * r * (1 - r)  # d(i_n + r hn) / d(i_r + h_r)
        d_gh = x.new_empty(steps, batch, 3 * hidden)  # gradients of the hidden pre-activations
        d_gi = x.new_empty(steps, batch, 3 * hidden)  # gradients of the input pre-activations
        dh = torch.zeros(batch, hidden, dtype=x.dtype, device=x.device)
        for t in range(steps - 1, -1, -1):
            dh += grad_out[t]
            d_pre_n = torch.mul(dh, c_n[t], out=d_gi[t, :, 2 * hidden :])
            torch.mul(d_pre_n, c_r[t], out=d_gh[t, :, :hidden])
            torch.mul(dh, c_z[t], out=d_gh[t, :, hidden : 2 * hidden])
            torch.mul(d_pre_n, r[t], out=d_gh[t, :, 2 * hidden :])  # dL/d hn
            dh = torch.addmm(dh * z[t], d_gh[t], w_hh)  # dL/dh_{t-1}: [B, H]
        d_gi[..., : 2 * hidden] = d_gh[..., : 2 * hidden]  # the r and z pre-activations are sums of both
        flat_gi = d_gi.view(steps * batch, 3 * hidden)
        flat_gh = d_gh.view(steps * batch, 3 * hidden)
        dx = (flat_gi @ w_ih).view_as(x) if ctx.needs_input_grad[0] else None  # [T, B, E]
        dw_ih = flat_gi.t() @ x.reshape(steps * batch, -1)  # [3H, E]
        dw_hh = flat_gh.t() @ out[:-1].reshape(steps * batch, hidden)  # [3H, H]
        return dx, dh, dw_ih, dw_hh, flat_gi.sum(0), flat_gh.sum(0)


def gru_sequence(gru: torch.nn.GRU, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Outputs [B, T, H] of the single-layer, batch-first `gru` on x [B, T, E] from h0 [1, B, H] (or zeros).

    Same function and gradients as `gru(x, h0)[0]`, computed by `_GRUSequence` in the parameters' dtype
    (autocast is switched off inside).
    """
    if gru.num_layers != 1 or gru.bidirectional or not gru.batch_first or not gru.bias:
        raise ValueError("gru_sequence supports a single-layer, unidirectional, batch-first GRU with biases")
    weight_hh = cast(torch.Tensor, gru.weight_hh_l0)  # nn.Module attributes are typed loosely
    batch, hidden, dtype = x.shape[0], gru.hidden_size, weight_hh.dtype
    with torch.autocast(x.device.type, enabled=False):
        x_tm = x.to(dtype).transpose(0, 1).contiguous()  # [T, B, E]
        start = x.new_zeros(batch, hidden, dtype=dtype) if h0 is None else h0[0].to(dtype)
        out: torch.Tensor = _GRUSequence.apply(  # type: ignore[no-untyped-call]
            x_tm, start, gru.weight_ih_l0, weight_hh, gru.bias_ih_l0, gru.bias_hh_l0
        )
    return out.transpose(0, 1)  # [B, T, H]
