"""Rectified flow (conditional flow matching) with a velocity target, and its ODE samplers.

Convention: t = 0 is noise, t = 1 is data; x_t = (1 - t) noise + t x_1, and the network predicts the
constant velocity x_1 - noise. Training draws t from a logit-normal (SD3's choice: most samples in
the middle of the path, where the velocity is hardest to predict). Sampling integrates from t = 0 to
1 with Euler or Heun steps (Heun corrects every step but the last, which lands on the data side of
the path and is taken with Euler, as EDM does); classifier-free guidance mixes the conditional and
the null-text velocity as v_null + scale (v_cond - v_null), both from one doubled batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def logit_normal(n: int, mean: float = 0.0, std: float = 1.0, device=None, generator=None) -> torch.Tensor:
    return torch.sigmoid(mean + std * torch.randn(n, device=device, generator=generator))


def flow_matching_loss(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x1: torch.Tensor,
    frame_mask: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared velocity error averaged over each example's real frames, then over examples (so every
    example weighs the same whatever its length, and a batch split across processes averages to the
    same loss); ``velocity(x_t, t)`` is the conditioned model."""
    noise = torch.randn_like(x1) if noise is None else noise
    if t is None:
        t = logit_normal(x1.shape[0], device=x1.device)
    tt = t[:, None, None].to(x1.dtype)
    xt = (1 - tt) * noise + tt * x1
    err = (velocity(xt, t) - (x1 - noise)).float().pow(2).mean(1)  # (batch, frames)
    if frame_mask is None:
        return err.mean()
    weight = frame_mask.to(err.dtype)
    return ((err * weight).sum(1) / weight.sum(1).clamp(min=1.0)).mean()


def guided(velocity: Callable, scale: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``velocity(x, t, drop)`` with drop a (batch,) bool; returns the CFG-mixed field of (x, t)."""

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if scale == 1.0:
            return velocity(x, t, torch.zeros(x.shape[0], dtype=torch.bool, device=x.device))
        b = x.shape[0]
        drop = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(x.device)
        v = velocity(torch.cat([x, x]), torch.cat([t, t]), drop)
        cond, null = v[:b], v[b:]
        return null + scale * (cond - null)

    return field


@torch.no_grad()
def sample(
    field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    steps: int = 32,
    method: str = "euler",
) -> torch.Tensor:
    """Integrate dx/dt = field(x, t) from t = 0 (``noise``) to t = 1 on a uniform grid."""
    if method not in ("euler", "heun"):
        raise ValueError(f"sampler must be euler or heun, got {method!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = noise
    grid = torch.linspace(0.0, 1.0, steps + 1, device=noise.device)
    for i in range(steps):
        t0, t1 = grid[i], grid[i + 1]
        v0 = field(x, t0.expand(x.shape[0]))
        if method == "heun" and i < steps - 1:
            x_pred = x + (t1 - t0) * v0
            v1 = field(x_pred, t1.expand(x.shape[0]))
            x = x + (t1 - t0) * 0.5 * (v0 + v1)
        else:
            x = x + (t1 - t0) * v0
    return x
