"""The fused block ops equal their plain-torch definitions, in value and in gradient."""

import torch
from torch.nn import functional as F

from s2acc.dit.fused import modulated_rms_norm, swiglu


def inputs(*shapes, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(*s, generator=g, dtype=dtype, requires_grad=True) for s in shapes]


def test_modulated_rms_norm_matches_rms_norm_then_modulation():
    x, scale, shift = inputs((2, 7, 16), (2, 1, 16), (2, 1, 16))
    reference = F.rms_norm(x, (16,), eps=1e-6) * (1 + scale) + shift
    assert torch.allclose(modulated_rms_norm(x, scale, shift), reference, atol=1e-12)
    assert torch.autograd.gradcheck(modulated_rms_norm, (x, scale, shift))


def test_modulated_rms_norm_gradients_equal_autograds_in_float32():
    x, scale, shift = inputs((3, 11, 32), (3, 1, 32), (3, 1, 32), dtype=torch.float32)
    grad = torch.randn(3, 11, 32, generator=torch.Generator().manual_seed(1))
    ours = torch.autograd.grad(modulated_rms_norm(x, scale, shift), (x, scale, shift), grad)
    reference = F.rms_norm(x, (32,), eps=1e-6) * (1 + scale) + shift
    theirs = torch.autograd.grad(reference, (x, scale, shift), grad)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_modulated_rms_norm_keeps_a_bfloat16_input_in_bfloat16():
    x, scale, shift = (t.detach().bfloat16() for t in inputs((2, 5, 64), (2, 1, 64), (2, 1, 64)))
    out = modulated_rms_norm(x, scale, shift)
    reference = F.rms_norm(x.double(), (64,), eps=1e-6) * (1 + scale.double()) + shift.double()
    assert out.dtype == torch.bfloat16
    assert (out.double() - reference).abs().max() < 0.05


def test_swiglu_matches_silu_gate_times_up():
    (gate_up,) = inputs((2, 5, 12))
    gate, up = gate_up.chunk(2, dim=-1)
    assert torch.allclose(swiglu(gate_up), F.silu(gate) * up, atol=1e-12)
    assert torch.autograd.gradcheck(swiglu, (gate_up,))
