"""Two of the DiT block's elementwise steps as single autograd nodes with hand-written backward passes.

On CPU the block is matmul-bound, and most of what remains is memory traffic from small elementwise
ops and the copies autograd makes between them. Each function here saves one tensor for backward
instead of several intermediates and writes its input gradient into one buffer: the SwiGLU's gate and
up gradients land in the halves of one tensor instead of being concatenated, and the modulated norm's
reductions run as a norm kernel and a fused dot product. Under autocast the residual stream, the
modulation and the result can have different dtypes; gradients come back in each input's own.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class _ModulatedRMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, shift, eps):
        # the mean square in float32 at least, whatever x's dtype; one reduction pass, no squared copy
        wide = torch.promote_types(x.dtype, torch.float32)
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=wide)
        rstd = torch.rsqrt(norm.square_().div_(x.shape[-1]).add_(eps)).to(x.dtype)
        normed = x * rstd
        factor = 1 + scale
        ctx.save_for_backward(normed, rstd, factor)
        ctx.dtypes = x.dtype, scale.dtype, shift.dtype  # under autocast they can differ
        return torch.addcmul(shift, normed, factor)

    @staticmethod
    def backward(ctx, grad):
        normed, rstd, factor = ctx.saved_tensors
        x_dtype, scale_dtype, shift_dtype = ctx.dtypes
        grad_normed = grad * factor
        normed = normed.to(grad_normed.dtype)
        grad_scale = grad_shift = None
        if ctx.needs_input_grad[1]:
            grad_scale = (grad * normed).sum(1, keepdim=True).to(scale_dtype)
        if ctx.needs_input_grad[2]:
            grad_shift = grad.sum(1, keepdim=True).to(shift_dtype)
        # d normed/dx = rstd * (I - normed normed^T / width): project out the normed direction
        dot = torch.linalg.vecdot(grad_normed, normed, dim=-1).unsqueeze(-1).div_(normed.shape[-1])
        grad_x = torch.addcmul(grad_normed, normed, dot, value=-1).mul_(rstd).to(x_dtype)
        return grad_x, grad_scale, grad_shift, None


def modulated_rms_norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float = 1e-6):
    """RMSNorm of x (batch, length, width) without a weight, then x * (1 + scale) + shift with the
    (batch, 1, width) adaLN modulation broadcast over the length."""
    return _ModulatedRMSNorm.apply(x, scale, shift, eps)


class _SwiGLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate_up):
        gate, up = gate_up.chunk(2, dim=-1)
        ctx.save_for_backward(gate_up)
        return F.silu(gate).mul_(up)

    @staticmethod
    def backward(ctx, grad):
        (gate_up,) = ctx.saved_tensors
        gate, up = gate_up.chunk(2, dim=-1)
        grad_gate_up = torch.empty_like(gate_up)
        grad_gate, grad_up = grad_gate_up.chunk(2, dim=-1)
        torch.mul(grad, F.silu(gate), out=grad_up)
        torch.ops.aten.silu_backward.grad_input(grad * up, gate, grad_input=grad_gate)
        return grad_gate_up


def swiglu(gate_up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up for the two halves of one projection's output (last dimension)."""
    return _SwiGLU.apply(gate_up)
