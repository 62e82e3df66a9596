"""The DiT's distributed paths, for real: 2-process DDP, FSDP, two "machines" on loopback, SIGKILL resume.

Every run is the `s2acc train-dit` command in fresh processes (gloo on CPU). Per-example noise seeds
make N processes with the same global batch train exactly as one, up to float reduction order.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from launch import accelerate_launch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")


def args(dataset: Path, out: Path, batch: int, steps: int = 4, save_every: int = 100) -> list[str]:
    return [
        "train-dit", "--config", str(ROOT / "configs/dit/tiny.yaml"), "--quiet", f"out={out}",
        f"data.dataset={dataset}", "vae=tiny", f"train.batch_size={batch}", f"train.max_steps={steps}",
        f"train.save_every={save_every}", "train.log_every=1", "train.tracker=none", "train.warmup_steps=0",
    ]  # fmt: skip


def run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "export" / "model.safetensors"))


def losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_same(a: Path, b: Path, atol: float) -> None:
    assert losses(a) == pytest.approx(losses(b), abs=atol, rel=atol)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=atol, rtol=atol, msg=key)


@pytest.fixture(scope="module")
def single(encoded_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dit") / "one"
    run([sys.executable, "-m", "s2acc", *args(encoded_dataset, out, batch=4)])
    return out


def test_two_processes_train_as_one_with_the_same_global_batch(encoded_dataset, single, tmp_path):
    out = tmp_path / "two"
    run([*accelerate_launch(2), "-m", "s2acc", *args(encoded_dataset, out, batch=2)])
    assert len(losses(out)) == 4
    assert_same(single, out, atol=1e-5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fsdp_on_cpu(folder: Path) -> Path:
    """The committed multi-node FSDP launch config, narrowed to 2 CPU processes on this machine."""
    cfg = yaml.safe_load((ROOT / "configs/accelerate/fsdp_2nodes_16gpu.yaml").read_text())
    cfg.update(num_machines=1, num_processes=2, machine_rank=0, use_cpu=True, mixed_precision="no")
    cfg["main_process_port"] = free_port()
    path = folder / "fsdp_cpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_fsdp_trains_as_one_process_and_resumes_from_its_sharded_checkpoint(
    encoded_dataset, single, tmp_path
):
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    launch = [accelerate, "launch", "--config_file", str(fsdp_on_cpu(tmp_path)), "-m", "s2acc"]
    out = tmp_path / "fsdp"
    run([*launch, *args(encoded_dataset, out, batch=2, save_every=2)])
    assert_same(single, out, atol=1e-5)
    # Cut the run back to its step-2 checkpoint, as if it had died there, and run it again.
    finished = weights(out)
    shutil.rmtree(out / "export")
    shutil.rmtree(out / "checkpoints" / "step-00000004")
    run([*launch, *args(encoded_dataset, out, batch=2, save_every=2)])
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 3, 4]  # the rerun picked up at step 3
    for key, value in weights(out).items():
        torch.testing.assert_close(value, finished[key], atol=1e-6, rtol=1e-6, msg=key)


def test_two_machines_on_loopback_train_together(encoded_dataset, single, tmp_path):
    port = free_port()
    out = tmp_path / "nodes"
    launches = []
    for rank in (0, 1):
        cmd = [
            str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_machines", "2",
            "--num_processes", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
            "--main_process_port", str(port), "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", "s2acc", *args(encoded_dataset, out, batch=2),
        ]  # fmt: skip
        launches.append(
            subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for proc in launches:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    assert_same(single, out, atol=1e-5)


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(encoded_dataset, tmp_path):
    straight = tmp_path / "straight"
    run([sys.executable, "-m", "s2acc", *args(encoded_dataset, straight, batch=2, steps=6, save_every=2)])
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2acc", *args(encoded_dataset, killed, batch=2, steps=6, save_every=2)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    marker = killed / "checkpoints" / "step-00000002" / ".complete"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (killed / "export").exists(), "the run was not cut off mid-way"
    run([sys.executable, "-m", "s2acc", *args(encoded_dataset, killed, batch=2, steps=6, save_every=2)])
    wa, wb = weights(straight), weights(killed)
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def logged_steps(out: Path) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def worker_ranks(launcher: subprocess.Popen) -> dict[int, int]:
    """{rank: pid} of the training processes that ``accelerate launch`` started."""
    found: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = int(
                next(line for line in status.read_text().splitlines() if line.startswith("PPid:")).split()[1]
            )
            environ = (status.parent / "environ").read_bytes().split(b"\0")
        except (OSError, StopIteration, ValueError):
            continue
        rank = [e for e in environ if e.startswith(b"RANK=")]
        if ppid == launcher.pid and rank:
            found[int(rank[0][5:])] = int(status.parent.name)
    return found


@pytest.mark.parametrize("processes", [1, 2])
def test_a_stop_signal_saves_at_a_step_boundary_and_the_relaunch_resumes_bitwise(
    encoded_dataset, tmp_path, processes
):
    """A scheduler's SIGTERM (to one process only, with two) stops every process at the same step with
    its resume state saved; the relaunched command ends where an uninterrupted run ends."""
    prefix = [sys.executable, "-m", "s2acc"] if processes == 1 else [*accelerate_launch(2), "-m", "s2acc"]
    batch = 4 // processes
    straight = tmp_path / "straight"
    run([*prefix, *args(encoded_dataset, straight, batch=batch, steps=40, save_every=1000)])
    stopped = tmp_path / "stopped"
    command = [*prefix, *args(encoded_dataset, stopped, batch=batch, steps=40, save_every=1000)]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while logged_steps(stopped) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if processes == 1:
        proc.send_signal(signal.SIGTERM)
    else:
        ranks = worker_ranks(proc)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[1], signal.SIGTERM)  # only rank 1 hears it; rank 0 learns it at the same step
    _, err = proc.communicate(timeout=300)
    done = sorted((stopped / "checkpoints").glob("step-*/.complete"))
    assert len(done) == 1 and not (stopped / "export").exists(), err[-2000:]
    step = int(done[0].parent.name[5:])
    assert 3 <= step < 40
    if processes == 1:
        assert proc.returncode == 75, err[-2000:]  # PREEMPTED_EXIT: a requeue script tells it from a crash
        assert f"stopped on SIGTERM at step {step}, resume state saved in" in err
    else:  # each worker exits 75; the launcher reports a failed worker
        assert proc.returncode != 0 and f"at step {step}, resume state saved in" in err, err[-2000:]
        assert "stopped on SIGTERM" in err and "stopped on a signal to another process" in err
    run(command)
    assert logged_steps(stopped) == 40
    wa, wb = weights(straight), weights(stopped)
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
