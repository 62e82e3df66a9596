"""The training core shared by the VAE and the DiT (Accelerate: DDP, FSDP, mixed precision, resume)."""

from s2acc.train.ema import EMA
from s2acc.train.trainer import NonFiniteLossError, TrainConfig, Trainer

__all__ = ["EMA", "NonFiniteLossError", "TrainConfig", "Trainer"]
