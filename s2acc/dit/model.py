"""The latent DiT: a bidirectional LLaMA-style transformer over VAE latent frames.

Blocks are pre-norm (RMSNorm), with rotary position embeddings, attention through
``scaled_dot_product_attention`` (flash kernels on GPU) and a SwiGLU feed-forward. With the feed-forward
4x wide, a block holds 16 width^2 weights (4 in attention, 12 in the feed-forward): the reference shape
(width 1024, 24 blocks, 16 heads) has 402.7M in its blocks.

Timestep conditioning is kept cheap (adaLN-single): one small MLP maps the timestep to six modulation
vectors (shift, scale and gate for attention and feed-forward) shared by every block, and each block
adds its own learned table; gates start at zero, so every block starts as the identity. The modulated
norms carry no weight of their own (as in DiT): the per-block scale table already is one. The norm with
its modulation and the SwiGLU are single autograd nodes (``s2acc.dit.fused``), which keeps a CPU step
at its matmul speed.

Text and timing conditioning: by default in context, as tokens prepended to the latent sequence (the
text encoder's states projected to the width, then one token each for the segment start and the total
seconds); ``conditioning: cross-attention`` instead attends to them from every block. Conditioning
tokens share rotary position 0 and latent frame i sits at position i + 1, so the output does not depend
on how much text padding a batch carries. A learned null text embedding stands in for the prompt when
it is dropped (classifier-free guidance).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from s2acc.dit.fused import modulated_rms_norm, swiglu


@dataclass
class DiTConfig:
    latent_dim: int = 64
    width: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0  # SwiGLU hidden width / width
    text_dim: int = 512  # width of the text encoder's output
    conditioning: str = "in-context"  # in-context | cross-attention
    time_embed_dim: int = 256
    max_seconds: float = 30.0  # timing values are normalised by this
    rope_theta: float = 10000.0
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise ValueError(f"width {self.width} must split into {self.heads} heads of even size")
        if self.conditioning not in ("in-context", "cross-attention"):
            raise ValueError(f"conditioning must be in-context or cross-attention, got {self.conditioning!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(batch,) values in [0, 1] -> (batch, dim) sin/cos features (values scaled by 1000 as in DiT)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=values.device, dtype=torch.float32) / half
    )
    angles = 1000.0 * values.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def rope_tables(positions: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """Unit complex rotations (length, head_dim / 2) for integer positions."""
    inv = 1.0 / theta ** (
        torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )
    angles = positions.float()[:, None] * inv[None]
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs of x (batch, length, ..., head_dim) by their position's angle.

    One complex multiply (a single kernel each way) in float32, instead of a dozen real ops and copies.
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    rotations = rotations.view(rotations.shape[0], *[1] * (x.ndim - 3), rotations.shape[1])
    return torch.view_as_real(pairs * rotations).flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, context: bool = False):
        super().__init__()
        self.heads = heads
        if context:  # queries from the sequence, keys and values from the conditioning tokens
            self.q = nn.Linear(width, width, bias=False)
            self.kv = nn.Linear(width, 2 * width, bias=False)
        else:
            self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)

    def forward(self, x, rope=None, mask=None, context=None) -> torch.Tensor:
        if context is None:
            # (batch, length, heads, head_dim) views of one projection: no copies before the rotation
            q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(2)
            if rope is not None:
                q, k = apply_rope(q, rope), apply_rope(k, rope)
        else:
            q = self.q(x).unflatten(-1, (self.heads, -1))
            k, v = self.kv(context).unflatten(-1, (2, self.heads, -1)).unbind(2)
        attn_mask = None if mask is None else mask[:, None, None, :]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (batch, heads, length, head_dim) views
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).flatten(2))


class Block(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d, hidden = cfg.width, int(cfg.mlp_ratio * cfg.width)
        self.attn = Attention(d, cfg.heads)
        self.gate_up = nn.Linear(d, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)
        self.table = nn.Parameter(torch.zeros(6, d))  # this block's share of the adaLN modulation
        self.cross = cfg.conditioning == "cross-attention"
        if self.cross:
            self.norm_cross = nn.RMSNorm(d, eps=1e-6)
            self.cross_attn = Attention(d, cfg.heads, context=True)

    def forward(self, x, modulation, rope, mask, context=None, context_mask=None) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = (modulation + self.table).unsqueeze(2).unbind(1)
        h = modulated_rms_norm(x, scale1, shift1)
        x = torch.addcmul(x, gate1, self.attn(h, rope, mask))
        if self.cross:
            x = x + self.cross_attn(self.norm_cross(x), mask=context_mask, context=context)
        h = modulated_rms_norm(x, scale2, shift2)
        return torch.addcmul(x, gate2, self.down(swiglu(self.gate_up(h))))


class LatentDiT(nn.Module):
    """Velocity field v(x_t, t | text, timing) over latents (batch, latent_dim, frames)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d, e = cfg.width, cfg.time_embed_dim
        self.latent_in = nn.Linear(cfg.latent_dim, d)
        self.text_in = nn.Linear(cfg.text_dim, d)
        self.null_text = nn.Parameter(torch.zeros(cfg.text_dim))
        self.start_in = nn.Linear(e, d)
        self.total_in = nn.Linear(e, d)
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU())
        self.time_modulation = nn.Linear(e, 6 * d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_modulation = nn.Linear(e, 2 * d)
        self.latent_out = nn.Linear(d, cfg.latent_dim)
        for layer in (self.time_modulation, self.final_modulation, self.latent_out):
            nn.init.zeros_(layer.weight)  # adaLN-zero: the network starts as the identity on its input
            nn.init.zeros_(layer.bias)

    def conditioning_tokens(self, text, text_mask, seconds_start, seconds_total, drop=None):
        """(batch, tokens, width) and their mask; ``drop`` (batch,) bool swaps the text for the null one."""
        # Always through the null embedding (a no-op where nothing is dropped): under DDP every
        # parameter must take part in every step, dropped example or not.
        if drop is None:
            drop = torch.zeros(text.shape[0], dtype=torch.bool, device=text.device)
        null = self.null_text.to(text.dtype).expand_as(text)
        text = torch.where(drop[:, None, None], null, text)
        first_only = torch.zeros_like(text_mask)
        first_only[:, 0] = True
        text_mask = torch.where(drop[:, None], first_only, text_mask)
        e = self.cfg.time_embed_dim
        timing = torch.stack(
            [
                self.start_in(sinusoidal(seconds_start / self.cfg.max_seconds, e).to(text.dtype)),
                self.total_in(sinusoidal(seconds_total / self.cfg.max_seconds, e).to(text.dtype)),
            ],
            dim=1,
        )
        tokens = torch.cat([self.text_in(text), timing], dim=1)
        mask = torch.cat([text_mask, text_mask.new_ones(text_mask.shape[0], 2)], dim=1)
        return tokens, mask

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        seconds_start: torch.Tensor,
        seconds_total: torch.Tensor,
        frame_mask: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (batch, latent_dim, frames), t (batch,) in [0, 1]; text (batch, tokens, text_dim) with a
        bool mask; frame_mask (batch, frames) marks real (not padded) frames."""
        b, _, frames = x.shape
        cond, cond_mask = self.conditioning_tokens(
            text, text_mask.bool(), seconds_start, seconds_total, drop_text
        )
        h = self.latent_in(x.transpose(1, 2))
        if frame_mask is None:
            frame_mask = torch.ones(b, frames, dtype=torch.bool, device=x.device)
        if self.cfg.conditioning == "in-context":
            seq = torch.cat([cond, h], dim=1)
            mask = torch.cat([cond_mask, frame_mask.bool()], dim=1)
            positions = torch.cat([torch.zeros(cond.shape[1]), torch.arange(1, frames + 1)]).to(x.device)
            context = context_mask = None
        else:
            seq, mask, context, context_mask = h, frame_mask.bool(), cond, cond_mask
            positions = torch.arange(1, frames + 1, device=x.device)
        rope = rope_tables(positions, self.cfg.width // self.cfg.heads, self.cfg.rope_theta)
        if bool(mask.all()):
            mask = None  # nothing padded: the fused attention kernels need no mask
        if context_mask is not None and bool(context_mask.all()):
            context_mask = None
        te = self.time_mlp(sinusoidal(t, self.cfg.time_embed_dim).to(seq.dtype))
        modulation = self.time_modulation(te).unflatten(1, (6, -1))
        for block in self.blocks:
            if self.cfg.gradient_checkpointing and self.training:
                seq = checkpoint(
                    block, seq, modulation, rope, mask, context, context_mask, use_reentrant=False
                )
            else:
                seq = block(seq, modulation, rope, mask, context, context_mask)
        seq = seq[:, -frames:]
        shift, scale = self.final_modulation(te).chunk(2, dim=-1)
        out = self.latent_out(modulated_rms_norm(seq, scale.unsqueeze(1), shift.unsqueeze(1)))
        return out.transpose(1, 2)
