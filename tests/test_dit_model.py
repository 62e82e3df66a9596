"""The latent DiT: shapes, parameter audit, masking, and the flow-matching maths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2acc.config import load_config
from s2acc.dit.flow import flow_matching_loss, guided, sample
from s2acc.dit.model import DiTConfig, LatentDiT
from s2acc.dit.params import audit
from s2acc.dit.train import DiTTrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = DiTConfig(latent_dim=8, width=32, depth=2, heads=4, text_dim=12, max_seconds=10.0)


def inputs(b=2, frames=20, tokens=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        x=torch.randn(b, 8, frames, generator=g),
        t=torch.rand(b, generator=g),
        text=torch.randn(b, tokens, 12, generator=g),
        text_mask=torch.ones(b, tokens, dtype=torch.bool),
        seconds_start=torch.zeros(b),
        seconds_total=torch.full((b,), 5.0),
    )


def randomised(cfg: DiTConfig) -> LatentDiT:
    torch.manual_seed(0)
    model = LatentDiT(cfg)
    with torch.no_grad():
        for p in model.parameters():  # leave the zero-init behind, so every path matters
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_the_402m_config_core_is_within_the_rules():
    cfg = load_config(DiTTrainConfig, ROOT / "configs/dit/s2acc_402m.yaml")
    report = audit(cfg)  # built on the meta device: nothing is allocated
    assert 400e6 <= report["core"]["dit"] <= 410e6
    assert report["core"]["dit"] <= report["limit"] == 500_000_000 and report["core_within_limit"]
    assert report["core"]["of_which_blocks"] == 24 * (16 * 1024**2 + 6 * 1024)  # weights + adaLN tables
    assert all(v is None or v > 1e6 for v in report["auxiliary"].values())


def test_blocks_start_as_the_identity_and_the_output_as_zero():
    model = LatentDiT(TINY).eval()
    out = model(**inputs())
    assert out.shape == (2, 8, 20) and torch.count_nonzero(out) == 0


@pytest.mark.parametrize("conditioning", ["in-context", "cross-attention"])
def test_padding_changes_nothing_real(conditioning):
    model = randomised(DiTConfig(**{**TINY.to_dict(), "conditioning": conditioning}))
    base = inputs(b=1)
    out = model(**base)
    # Extra text padding tokens and extra padded frames leave the real frames' output unchanged.
    padded = dict(base)
    padded["text"] = torch.cat([base["text"], torch.randn(1, 3, 12)], dim=1)
    padded["text_mask"] = torch.cat([base["text_mask"], torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    padded["x"] = torch.cat([base["x"], torch.randn(1, 8, 7)], dim=2)
    mask = torch.zeros(1, 27, dtype=torch.bool)
    mask[:, :20] = True
    out_padded = model(**padded, frame_mask=mask)
    torch.testing.assert_close(out_padded[..., :20], out, atol=1e-5, rtol=1e-4)
    # ... while the text and the timing do change it.
    assert not torch.allclose(model(**{**base, "text": base["text"] + 1}), out, atol=1e-4)
    assert not torch.allclose(model(**{**base, "seconds_total": torch.full((1,), 9.0)}), out, atol=1e-4)


def test_dropping_the_text_replaces_it_with_the_learned_null():
    model = randomised(TINY)
    a, b = inputs(seed=1), inputs(seed=2)
    b["x"], b["t"] = a["x"], a["t"]
    drop = torch.ones(2, dtype=torch.bool)
    torch.testing.assert_close(model(**a, drop_text=drop), model(**b, drop_text=drop))


def test_gradient_checkpointing_gives_the_same_gradients():
    plain = randomised(TINY).train()
    ckpt = randomised(DiTConfig(**{**TINY.to_dict(), "gradient_checkpointing": True})).train()
    for model in (plain, ckpt):
        model(**inputs()).pow(2).sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_bfloat16_autocast_trains_close_to_float32():
    model = randomised(TINY).train()
    reference = model(**inputs())
    torch.autograd.backward(reference.pow(2).mean())
    full = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what mixed_precision: bf16 does
        out = model(**inputs())
    torch.autograd.backward(out.float().pow(2).mean())
    assert (out.float() - reference).abs().max() < 0.05 * reference.abs().max()
    for name, p in model.named_parameters():
        assert p.grad.dtype == p.dtype and torch.isfinite(p.grad).all(), name
        cosine = torch.nn.functional.cosine_similarity(p.grad.flatten(), full[name].flatten(), dim=0)
        assert full[name].abs().max() == 0 or cosine > 0.98, name


@pytest.mark.slow
def test_the_compiled_model_gives_the_same_outputs_and_gradients():
    eager, compiled = randomised(TINY).train(), randomised(TINY).train()
    compiled.compile()  # what `compile: true` does; the fused autograd nodes go through dynamo
    outs = [model(**inputs()) for model in (eager, compiled)]
    for out in outs:
        out.pow(2).sum().backward()
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-5)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        # fused kernels sum in another order: agreement to float32 rounding at the gradient's scale
        scale = float(p.grad.abs().max())
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5 * scale, rtol=1e-4, msg=name)


def test_the_velocity_target_is_data_minus_noise():
    torch.manual_seed(0)
    x1 = torch.randn(3, 4, 10)
    torch.manual_seed(1)
    noise = torch.randn_like(x1)
    torch.manual_seed(1)
    loss = flow_matching_loss(lambda x, t: x1 - noise, x1, t=torch.tensor([0.1, 0.5, 0.9]))
    assert loss.item() == pytest.approx(0.0, abs=1e-10)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[0, 5:] = False
    torch.manual_seed(1)
    wrong = flow_matching_loss(lambda x, t: torch.zeros_like(x), x1, mask, t=torch.full((3,), 0.5))
    per_frame = ((x1 - noise) ** 2).mean(1)  # each example weighs the same, whatever its length
    expected = torch.stack([per_frame[i][mask[i]].mean() for i in range(3)]).mean()
    assert wrong.item() == pytest.approx(float(expected), rel=1e-5)


def test_samplers_follow_the_flow_to_the_data():
    target = torch.randn(2, 4, 6)

    def straight(x, t):  # the exact velocity towards one data point
        return (target - x) / (1 - t[:, None, None]).clamp(min=1e-3)

    for method in ("euler", "heun"):
        out = sample(straight, torch.randn(2, 4, 6), steps=8, method=method)
        torch.testing.assert_close(out, target, atol=1e-4, rtol=1e-4)

    def curved(x, t):  # dx/dt = -x * 2t: x(1) = x(0) * exp(-1)
        return -2 * t[:, None, None] * x

    x0 = torch.ones(1, 1, 1)
    exact = torch.exp(torch.tensor(-1.0))
    euler = (sample(curved, x0, 8, "euler") - exact).abs().item()
    heun = (sample(curved, x0, 8, "heun") - exact).abs().item()
    assert heun < euler / 3  # second order on all but the last step (Euler, as in EDM)


def test_guidance_mixes_conditional_and_null_velocities():
    def velocity(x, t, drop):
        return torch.where(drop[:, None, None], torch.zeros_like(x), torch.ones_like(x))

    field = guided(velocity, 4.0)
    assert torch.equal(field(torch.zeros(3, 2, 5), torch.zeros(3)), torch.full((3, 2, 5), 4.0))
    assert torch.equal(guided(velocity, 1.0)(torch.zeros(1, 2, 5), torch.zeros(1)), torch.ones(1, 2, 5))
