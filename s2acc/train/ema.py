"""Exponential moving average of a model's parameters, checkpointed with the training state."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """``shadow = decay * shadow + (1 - decay) * param`` after every optimiser step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` so early averages are not dominated by
    the random initialisation. Buffers (e.g. running statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        params = dict(model.named_parameters())
        for name, value in model.state_dict().items():
            if name in params and value.dtype.is_floating_point:
                self.shadow[name].mul_(d).add_(value.detach().float(), alpha=1 - d)
            else:
                self.shadow[name].copy_(value.detach())

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.shadow.items()})

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        # Checkpoints load on the CPU; the averages live where the model does.
        self.shadow = {k: v.to(self.shadow[k].device).clone() for k, v in state["shadow"].items()}
