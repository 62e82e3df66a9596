"""The shared training loop: exact resume, non-finite losses, EMA export."""

from __future__ import annotations

import json

import pytest
import torch
from launch import accelerate_launch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import TensorDataset

from s2acc.train import NonFiniteLossError, TrainConfig, Trainer


def data(n: int = 40) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, x @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g))


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.1), nn.GELU(), nn.Linear(16, 1))


def mse(m: nn.Module, batch) -> tuple[torch.Tensor, dict]:
    x, y = batch
    loss = nn.functional.mse_loss(m(x), y)
    return loss, {"mse": float(loss.detach())}


def config(**kw) -> TrainConfig:
    base = dict(max_steps=12, batch_size=4, lr=1e-2, warmup_steps=2, save_every=5, log_every=1, ema_decay=0.9)
    return TrainConfig(**{**base, **kw})


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()}


def test_a_resumed_run_ends_bitwise_equal_to_an_uninterrupted_one(tmp_path):
    straight = Trainer(config(), model(), mse, data(), tmp_path / "a", progress_bar=False)
    straight.train()
    # Stop after 7 of 12 steps (mid-epoch: 10 batches per epoch), then resume from the step-5 checkpoint
    # in a new trainer, as after a crash; the last two steps are redone from the saved state.
    first = Trainer(config(), model(), mse, data(), tmp_path / "b", progress_bar=False)
    first.train(stop_at=7)
    for extra in (tmp_path / "b" / "checkpoints").glob("step-00000007"):
        (extra / ".complete").unlink()  # as if killed while writing the step-7 checkpoint
    resumed = Trainer(config(), model(), mse, data(), tmp_path / "b", progress_bar=False)
    assert resumed.latest_checkpoint().name == "step-00000005"
    resumed.train()
    assert resumed.progress.step == straight.progress.step == 12
    for name, value in weights(straight).items():
        assert torch.equal(value, weights(resumed)[name]), name
    for name, value in straight.ema.shadow.items():
        assert torch.equal(value, resumed.ema.shadow[name]), name
    losses = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == list(range(1, 13)) and losses[-1]["loss"] < losses[0]["loss"]


def test_non_finite_losses_skip_steps_then_stop_the_run(tmp_path):
    calls = {"n": 0}

    def flaky(m, batch):
        calls["n"] += 1
        loss, logs = mse(m, batch)
        return (loss * float("nan") if calls["n"] in (3, 4) else loss), logs

    trainer = Trainer(config(max_steps=8), model(), flaky, data(), tmp_path / "c", progress_bar=False)
    trainer.train()
    assert trainer.progress.skipped == 2 and trainer.progress.step == 8
    records = (tmp_path / "c" / "metrics.jsonl").read_text()
    assert records.count("non-finite") == 2
    for value in weights(trainer).values():
        assert torch.isfinite(value).all()

    def broken(m, batch):
        return mse(m, batch)[0] * float("inf"), {}

    with pytest.raises(NonFiniteLossError, match="3 optimiser steps in a row"):
        Trainer(config(max_bad_steps=3), model(), broken, data(), tmp_path / "d", progress_bar=False).train()


def test_export_writes_the_ema_weights_and_config(tmp_path):
    trainer = Trainer(
        config(max_steps=4),
        model(),
        mse,
        data(),
        tmp_path / "e",
        export_config={"kind": "toy"},
        progress_bar=False,
    )
    trainer.train()
    folder = trainer.export()
    exported = load_file(folder / "model.safetensors")
    assert exported.keys() == trainer.ema.shadow.keys()
    assert all(torch.equal(exported[k], trainer.ema.shadow[k]) for k in exported)
    meta = json.loads((folder / "config.json").read_text())
    assert meta["kind"] == "toy" and meta["train_step"] == 4
    fresh = model()
    trainer.ema.copy_to(fresh)
    fresh.load_state_dict(exported, strict=True)
    with pytest.raises(ValueError, match="no full batch"):
        Trainer(config(batch_size=64), model(), mse, data(), tmp_path / "f", progress_bar=False)


def test_checkpoints_rotate_to_the_last_few(tmp_path):
    trainer = Trainer(config(max_steps=12, save_every=2, keep_checkpoints=3), model(), mse, data(),
                      tmp_path / "r", progress_bar=False)  # fmt: skip
    trainer.train()
    assert [p.name for p in trainer.complete_checkpoints()] == [
        "step-00000008",
        "step-00000010",
        "step-00000012",
    ]
    assert sorted(p.name for p in trainer.checkpoint_dir.iterdir()) == [
        "step-00000008",
        "step-00000010",
        "step-00000012",
    ]


def test_a_killed_export_leaves_the_previous_export_whole(tmp_path, monkeypatch):
    trainer = Trainer(config(max_steps=4), model(), mse, data(), tmp_path / "x", progress_bar=False)
    trainer.train()
    folder = trainer.export()
    before = (folder / "model.safetensors").read_bytes()

    def killed(tensors, path, *a, **k):  # the process dies halfway through writing the weights
        with open(path, "wb") as f:
            f.write(b"\0" * 100)
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", killed)
    trainer.progress.step = 99
    with pytest.raises(KeyboardInterrupt):
        trainer.export()
    assert (folder / "model.safetensors").read_bytes() == before
    assert json.loads((folder / "config.json").read_text())["train_step"] == 4
    load_file(folder / "model.safetensors")  # still a whole, loadable file


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).parent / "scripts" / "train_toy.py")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    one = subprocess.run(
        [sys.executable, script, str(tmp_path / "one"), "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "processes=1" in one.stdout, one.stderr[-2000:]
    two = subprocess.run(
        [*accelerate_launch(2), script, str(tmp_path / "two"), "4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "processes=2" in two.stdout, two.stderr[-2000:]
    a, b = torch.load(tmp_path / "one" / "final.pt"), torch.load(tmp_path / "two" / "final.pt")
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5, msg=name)


def test_config_values_are_checked():
    with pytest.raises(ValueError, match="save_every"):
        TrainConfig(save_every=0)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
