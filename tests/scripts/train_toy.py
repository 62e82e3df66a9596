"""A toy regression run of the shared training loop, for multi-process tests: train_toy.py OUT BATCH."""

import sys

import torch
from torch import nn
from torch.utils.data import TensorDataset

from s2acc.train import TrainConfig, Trainer


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y), {}


if __name__ == "__main__":
    out, batch = sys.argv[1], int(sys.argv[2])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=g)
    y = x @ torch.randn(6, 1, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 1))
    cfg = TrainConfig(max_steps=6, batch_size=batch, lr=1e-2, save_every=3, log_every=1)
    trainer = Trainer(cfg, model, mse, TensorDataset(x, y), out, progress_bar=False)
    trainer.train()
    if trainer.accelerator.is_main_process:
        torch.save(trainer.accelerator.unwrap_model(trainer.model).state_dict(), f"{out}/final.pt")
        print(f"processes={trainer.accelerator.num_processes}")
