"""The training loop the VAE and the DiT share, on Hugging Face Accelerate.

One loop for every model: the model supplies ``loss_fn(model, batch) -> (loss, logs)``, the loop does
the rest: mixed precision, gradient accumulation and clipping, AdamW with warm-up and cosine decay,
EMA, checkpoints with ``save_state`` / ``load_state`` that resume exactly (the data order is a
seeded permutation per epoch, and a resumed run skips the batches already seen), metrics as JSON
lines plus a tracker (TensorBoard by default), and export of the EMA weights as ``model.safetensors`` +
``config.json``.

A model may shape its own optimisation: ``param_groups()`` gives AdamW per-group settings (a GAN's
discriminator its own learning rate), and the trainer's ``export_state`` picks what is exported (the
VAE without its training-only heads). ``callbacks`` run after every optimiser step, on every process
(demo reconstructions, generations); each decides for itself when and where to act.

Exact resume needs the dataset's own randomness (random crops, augmentation) to be a function of
the item and the epoch, not of the global random state: a loader reads one batch ahead, so global
draws made while loading shift across a checkpoint. Models may use the global state freely (dropout,
diffusion noise), which is checkpointed.

A stop signal from a batch scheduler (SIGTERM, SIGUSR1) saves the resume state at the next step
boundary on every process and raises :class:`~s2acc.train.preemption.Preempted` (see that module).
Checkpoints rotate (``keep_checkpoints``), and the export is written under temporary names and renamed,
so a killed export never leaves a partial ``model.safetensors``.

A non-finite loss on any process skips that optimiser step on every process (they agree through a
gather, so DDP never waits on a missing all-reduce) and is logged; ``max_bad_steps`` in a row stop
the run with an error naming the step.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from s2acc.train.allocator import freed_memory_kept
from s2acc.train.ema import EMA
from s2acc.train.preemption import Preempted, StopRequests


@dataclass
class TrainConfig:
    max_steps: int = 1000  # optimiser steps
    batch_size: int = 8  # per process and micro-step
    grad_accum: int = 1
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "cosine"  # cosine | constant
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # 0 disables
    mixed_precision: str = "no"  # no | bf16 | fp16
    ema_decay: float = 0.999
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    max_bad_steps: int = 5
    num_workers: int = 0
    tracker: str = "tensorboard"  # tensorboard | wandb | none (metrics.jsonl is always written)

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.tracker not in ("tensorboard", "wandb", "none"):
            raise ValueError(f"tracker must be tensorboard, wandb or none, got {self.tracker!r}")
        for name in ("max_steps", "batch_size", "grad_accum", "save_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class NonFiniteLossError(RuntimeError):
    pass


class EpochPermutation(Sampler[int]):
    """A fresh seeded permutation each epoch: the same order on every run and after a resume."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


@dataclass
class Progress:
    """Where the run is; checkpointed with the model so a resume knows what it has done."""

    step: int = 0  # optimiser steps attempted (including skipped ones)
    micro: int = 0  # batches consumed in the current epoch
    epoch: int = 0
    bad_in_row: int = 0
    skipped: int = 0

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def adamw(params, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW, fused where torch has a fused kernel for the parameters' device: on a CPU the default
    per-tensor loop makes the update a large share of a big model's step."""
    params = list(params)
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(params, **kwargs)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model: nn.Module,
        loss_fn: Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, float]]],
        dataset: Dataset,
        out: str | Path,
        collate_fn: Callable | None = None,
        export_config: dict | None = None,
        progress_bar: bool = True,
        export_state: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
        callbacks: list[Callable[[Trainer], None]] | None = None,
    ):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.cfg, self.loss_fn, self.out = cfg, loss_fn, Path(out)
        self.export_config = export_config or {}
        self.export_state = export_state or (lambda state: state)
        self.callbacks = list(callbacks or [])
        self.accelerator = Accelerator(
            log_with=None if cfg.tracker == "none" else cfg.tracker,
            gradient_accumulation_steps=cfg.grad_accum,
            mixed_precision=cfg.mixed_precision,
            project_dir=str(self.out),
            # Without CUDA, `accelerate launch --multi_gpu` processes must be told to form a CPU (gloo)
            # group; otherwise each would train alone.
            cpu=not torch.cuda.is_available(),
        )
        set_seed(cfg.seed)
        self.dataset = dataset
        self.sampler = EpochPermutation(len(dataset), cfg.seed)
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=self.sampler,
            drop_last=True,
            collate_fn=collate_fn,
            num_workers=cfg.num_workers,
            # Starting an iterator draws a seed; from its own generator it leaves the global RNG (dropout,
            # noise) alone, so a resumed run, which starts one mid-epoch, draws the same numbers.
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        if len(loader) == 0:
            raise ValueError(f"{len(dataset)} examples make no full batch of {cfg.batch_size}")
        params = model.param_groups() if hasattr(model, "param_groups") else model.parameters()
        optimizer = adamw(params, cfg)
        self.model, self.optimizer, self.loader = self.accelerator.prepare(model, optimizer, loader)
        # The schedule steps once per optimiser step, on every process alike: not prepared.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(cfg))
        self.ema = EMA(self.accelerator.unwrap_model(self.model), cfg.ema_decay)
        self.progress = Progress()
        for obj in (self.scheduler, self.ema, self.progress):
            self.accelerator.register_for_checkpointing(obj)
        self.show_progress = progress_bar
        if cfg.tracker != "none":
            self.accelerator.init_trackers("train", config={k: str(v) for k, v in asdict(cfg).items()})

    # ------------------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def complete_checkpoints(self) -> list[Path]:
        """Checkpoint folders that finished writing, oldest first."""
        done = [p.parent for p in self.checkpoint_dir.glob("step-*/.complete")]
        return sorted(done, key=lambda p: int(p.name[5:]))

    def latest_checkpoint(self) -> Path | None:
        done = self.complete_checkpoints()
        return done[-1] if done else None

    def save(self) -> Path:
        path = self.checkpoint_dir / f"step-{self.progress.step:08d}"
        self.accelerator.save_state(str(path))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            (path / ".complete").touch()  # a checkpoint cut off mid-write is never resumed from
            for old in self.complete_checkpoints()[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return path

    def resume(self) -> bool:
        path = self.latest_checkpoint()
        if path is None:
            return False
        self.accelerator.load_state(str(path))
        return True

    def export(self, folder: str | Path | None = None) -> Path:
        """EMA weights as ``model.safetensors`` and the model's config as ``config.json``."""
        from safetensors.torch import save_file

        folder = Path(folder or self.out / "export")
        if self.accelerator.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
            state = self.export_state(dict(self.ema.shadow))
            meta = {**self.export_config, "train_step": self.progress.step, "ema_decay": self.cfg.ema_decay}
            weights, config = folder / ".model.safetensors.tmp", folder / ".config.json.tmp"
            save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
            config.write_text(json.dumps(meta, indent=1, default=str))
            # the config first: weights beside a stale config would fail a strict load, not load wrongly
            config.replace(folder / "config.json")
            weights.replace(folder / "model.safetensors")
        self.accelerator.wait_for_everyone()
        return folder

    # ------------------------------------------------------------------------------------ loop

    def _log(self, record: dict) -> None:
        if self.cfg.tracker != "none":
            scalars = {k: v for k, v in record.items() if k != "step" and isinstance(v, int | float)}
            if scalars:
                self.accelerator.log(scalars, step=record["step"])
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "metrics.jsonl", "a") as f:  # wall time, for the speed of a run
                f.write(json.dumps({**record, "time": round(time.time(), 2)}) + "\n")

    @property
    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def _stop_agreed(self, stop: StopRequests) -> bool:
        """Whether any process received a stop signal (all learn it at the same step)."""
        flag = torch.tensor([float(stop.received is not None)], device=self.accelerator.device)
        return bool(self.accelerator.gather(flag).max() > 0)

    def _all_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.tensor([float(torch.isfinite(loss).all())], device=self.accelerator.device)
        return bool(self.accelerator.gather(flag).min() > 0)

    def train(self, stop_at: int | None = None) -> Progress:
        """Train to ``max_steps`` (resuming from the latest checkpoint), or stop early at ``stop_at``
        with the schedule unchanged, as a time-limited job would."""
        from accelerate.utils import tqdm

        cfg, acc, p = self.cfg, self.accelerator, self.progress
        end = min(cfg.max_steps, stop_at or cfg.max_steps)
        self.resume()
        bar = tqdm(total=cfg.max_steps, initial=p.step, desc="train", disable=not self.show_progress)
        batches = self._batches()
        # On CPU, steps stop page-faulting their tensors in again while the loop runs.
        with StopRequests() as stop, freed_memory_kept(acc.device.type == "cpu"):
            self._loop(end, batches, bar, stop)
        bar.close()
        if cfg.tracker != "none":
            acc.end_training()
        return p

    def _loop(self, end: int, batches: Iterator[Any], bar, stop: StopRequests) -> None:
        cfg, acc, p = self.cfg, self.accelerator, self.progress
        bad = False  # a micro-batch of this optimiser step had a non-finite loss on some process
        while p.step < end:
            with acc.accumulate(self.model):
                loss, logs = self.loss_fn(self.model, next(batches))
                bad |= not self._backward(loss)
                if not acc.sync_gradients:
                    continue
            if bad:
                self._skip_step()
            else:
                self._optimiser_step()
            self._advance_schedule()
            p.step += 1
            bar.update(1)
            if not bad and (p.step % cfg.log_every == 0 or p.step == end):
                self._log({"step": p.step, "loss": self._mean_over_processes(loss), "lr": self.lr, **logs})
            bad = False
            for callback in self.callbacks:
                callback(self)
            saved = p.step % cfg.save_every == 0 or p.step == end
            if saved:
                self.save()
            if p.step < end and self._stop_agreed(stop):
                path = self.latest_checkpoint() if saved else self.save()
                bar.close()
                raise Preempted(stop.received or "a signal to another process", p.step, str(path))

    def _batches(self) -> Iterator[Any]:
        """Batches epoch after epoch from where the progress stands: a resumed run skips the batches of
        its epoch that the checkpoint had already consumed."""
        p = self.progress
        while True:
            self.loader.set_epoch(p.epoch)
            if hasattr(self.dataset, "set_epoch"):  # per-epoch random crops (see the module docstring)
                self.dataset.set_epoch(p.epoch)
            loader = self.accelerator.skip_first_batches(self.loader, p.micro) if p.micro else self.loader
            for batch in loader:
                p.micro += 1
                yield batch
            p.epoch += 1
            p.micro = 0

    def _backward(self, loss: torch.Tensor) -> bool:
        """Backpropagate a loss that is finite on every process; report whether it was."""
        finite = self._all_finite(loss)
        if finite:
            self.accelerator.backward(loss)
        return finite

    def _optimiser_step(self) -> None:
        if self.cfg.grad_clip:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.unwrapped)
        self.progress.bad_in_row = 0

    def _skip_step(self) -> None:
        """Drop the step's gradients; ``max_bad_steps`` skipped in a row stop the run."""
        p = self.progress
        self.optimizer.zero_grad(set_to_none=True)
        p.skipped += 1
        p.bad_in_row += 1
        self._log({"step": p.step + 1, "skipped": "non-finite loss"})
        if p.bad_in_row >= self.cfg.max_bad_steps:
            raise NonFiniteLossError(
                f"{p.bad_in_row} optimiser steps in a row had a non-finite loss "
                f"(last at step {p.step}); lower the learning rate or check the data"
            )

    def _advance_schedule(self) -> None:
        with warnings.catch_warnings():
            # A skipped step still advances the schedule (it follows the data position); torch warns
            # when the first optimiser step is the one skipped.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def _mean_over_processes(self, loss: torch.Tensor) -> float:
        return float(self.accelerator.reduce(loss.detach().float(), "mean"))
