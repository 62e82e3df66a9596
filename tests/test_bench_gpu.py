"""benchmarks/gpu.py: the GPU benchmark's dry run on the CPU, its failure and budget handling, the FLOP
counts behind its floors, and the carried-wheels path a GPU machine without a registry takes."""

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"
PARTS = ["peak", "dit_train", "vae", "separate", "clap", "generate"]


def _gpu_module():
    sys.path.insert(0, str(ROOT))
    import benchmarks.gpu as gpu

    return gpu


def _run(out: Path, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--dry", "--out", str(out), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    before = set((ROOT / "benchmarks/results").iterdir())
    result = _run(tmp_path_factory.mktemp("gpu") / "dry.json")
    assert set((ROOT / "benchmarks/results").iterdir()) == before  # a dry run never touches the results
    return result


@pytest.mark.slow
def test_dry_run_records_device_machine_and_commit(dry):
    assert dry["benchmark"] == "gpu" and dry["dry"] is True and dry["random_weights"] is True
    assert dry["device"]["type"] == "cpu" and dry["device"]["name"]
    assert dry["device"]["slug"].startswith("cpu-") and " " not in dry["device"]["slug"]
    assert isinstance(dry["commit"], str) and dry["commit"]
    assert dry["machine"]["python"] and dry["machine"]["cores"] >= 1
    assert dry["wheels"] == {"needed": False}  # this venv has every module the parts import
    assert 0 < dry["wall_seconds"] < dry["budget_seconds"]
    assert dry["setup"]["prompts"] == 2 and dry["setup"]["gen_steps"] == 2 and dry["setup"]["vae"] == "tiny"


@pytest.mark.slow
def test_dry_run_times_every_part(dry):
    assert list(dry["parts"]) == PARTS
    for name, part in dry["parts"].items():
        assert part["ok"], f"{name}: {part.get('traceback') or part.get('error')}"
        assert part["part_seconds"] > 0 and part["rss_peak_mib"] > 0, name
    p = dry["parts"]
    assert p["peak"]["bf16_flops"] > 0 and p["peak"]["fp32_flops"] > 0

    train = p["dit_train"]
    assert train["params"]["ours"] > 0 and train["params"]["peer"] > 0
    (length,) = train["lengths"].values()
    assert length["frames"] == math.ceil(0.5 * 44100 / 2048)
    for model in ("ours", "peer"):
        step = length["step_seconds"][model]
        assert step > 0 and len(length["step_seconds_rounds"][model]) == 2
        assert length["latent_frames_per_s"][model] == pytest.approx(2 * length["frames"] / step, rel=1e-3)
    assert 0 < length["mfu"] < 1 and length["ours_step_flops"] > 0
    assert length["ratio_ours_over_peer"] == pytest.approx(
        length["step_seconds"]["ours"] / length["step_seconds"]["peer"], rel=1e-2
    )
    assert isinstance(length["mfu_at_least_0.40"], bool) and isinstance(length["ours_faster_than_peer"], bool)

    vae = p["vae"]
    assert vae["config"] == "tiny" and vae["decode_flops"] > 0
    for op in ("encode", "decode"):
        assert vae[f"{op}_seconds"] > 0
        assert vae[f"{op}_real_time_factor"] == pytest.approx(0.25 / vae[f"{op}_seconds"], rel=1e-2)

    sep = p["separate"]
    assert sep["params"] > 0 and sep["seconds"] > 0 and sep["real_time_factor"] > 0

    clap = p["clap"]
    assert clap["windows"] == 1 and clap["windows_per_s"] > 0 and clap["model_only_windows_per_s"] > 0

    gen = p["generate"]
    assert gen["flops"]["total"] == gen["flops"]["dit"] + gen["flops"]["vae_decode"] > 0
    assert set(gen["precisions"]) == {"fp32", "bf16"}
    for precision, timing in gen["precisions"].items():
        assert timing["seconds"] > gen["floor_seconds"][precision] > 0  # nothing runs under its floor
        assert timing["one_batch"]["sample_seconds"] > 0 and timing["one_batch"]["decode_seconds"] > 0
        assert timing["rss_peak_mib"] > 0


@pytest.mark.slow
def test_dry_run_summary_carries_the_headline_figures(dry):
    s = dry["summary"]
    targets = {"dit_mfu": ">= 0.40", "dit_ratio_ours_over_peer": "< 1", "generate_seconds": "<= 15"}
    assert s["targets"] == targets
    assert s["dit_train"]["0.5s"]["mfu"] == dry["parts"]["dit_train"]["lengths"]["0.5s"]["mfu"]
    assert s["generate_seconds"]["fp32"] == dry["parts"]["generate"]["precisions"]["fp32"]["seconds"]
    for key in ("vae_encode_real_time_factor", "vae_decode_real_time_factor", "separate_real_time_factor",
                "clap_windows_per_s"):  # fmt: skip
        assert s[key] > 0


@pytest.mark.slow
def test_a_failing_part_records_its_error_and_the_rest_run(tmp_path):
    result = _run(
        tmp_path / "fail.json", "--parts", "dit_train,peak", "--set", "dit_config=configs/dit/none.yaml"
    )
    failed, ok = result["parts"]["dit_train"], result["parts"]["peak"]
    assert not failed["ok"] and "FileNotFoundError" in failed["error"] and "none.yaml" in failed["traceback"]
    assert ok["ok"] and ok["bf16_flops"] > 0
    assert "dit_train" not in result["summary"]


@pytest.mark.slow
def test_parts_past_the_budget_are_skipped_not_run(tmp_path):
    result = _run(tmp_path / "late.json", "--parts", "peak,vae", "--budget", "0")
    for part in result["parts"].values():
        assert not part["ok"] and "time budget" in part["error"]


def test_conv_flops_counts_multiply_adds_from_shapes():
    import torch

    gpu = _gpu_module()
    net = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3),  # (1, 2, 10) -> (1, 4, 8): 32 outputs x 2 x 3 taps
        torch.nn.ConvTranspose1d(4, 2, 4, stride=2),  # 32 inputs spread over 2 x 4 taps
        torch.nn.Linear(18, 5),  # (1, 2, 18) -> (1, 2, 5): 10 outputs x 18 inputs
    )
    flops = gpu.conv_flops(net, lambda: net(torch.randn(1, 2, 10)))
    assert flops == 2 * (32 * 2 * 3 + 32 * 2 * 4 + 10 * 18)


def test_device_names_become_file_names():
    gpu = _gpu_module()
    assert gpu.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert gpu.slug("  NVIDIA H200 (MIG 1g.18gb) ") == "nvidia-h200-mig-1g-18gb"


def _wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel (what pip needs to install it), written by hand."""
    info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            z.writestr(arc, text)
    return path


def test_missing_modules_come_from_the_carried_wheels(tmp_path, monkeypatch):
    import tempfile

    gpu = _gpu_module()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "s2acc_carried_probe", {"s2acc_carried_probe/__init__.py": "VALUE = 42\n"})
    monkeypatch.setattr(gpu, "CARRIED", ("s2acc_carried_probe",))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the wheels are installed
    report = gpu.use_wheels(wheels)
    assert report["missing"] == ["s2acc_carried_probe"], report
    assert report["installed"] == ["s2acc_carried_probe-1.0-py3-none-any.whl"]
    import s2acc_carried_probe

    assert s2acc_carried_probe.VALUE == 42
    sys.modules.pop("s2acc_carried_probe")
    assert gpu.use_wheels(tmp_path / "none") == {"needed": False}  # found now: nothing to install
    monkeypatch.setattr(gpu, "CARRIED", ("s2acc_never_carried",))
    assert "make bench-gpu-wheels" in gpu.use_wheels(tmp_path / "none")["error"]


def test_packing_drops_diffusers_pipelines_and_their_record_lines(tmp_path, capsys):
    gpu = _gpu_module()
    kept = {
        "diffusers/__init__.py": "",
        "diffusers/models/autoencoders/oobleck.py": "",
        "diffusers/pipelines/__init__.py": "",
        "diffusers/pipelines/pipeline_utils.py": "",
    }
    dropped = {"diffusers/pipelines/flux/pipe.py": "", "diffusers/modular_pipelines/wan/block.py": ""}
    wheel = _wheel(tmp_path, "diffusers", {**kept, **dropped})
    gpu.pack_wheels(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        record = z.read("diffusers-1.0.dist-info/RECORD").decode()
    assert set(kept) <= names and not set(dropped) & names
    assert "flux" not in record and "modular_pipelines" not in record and "oobleck.py" in record
    assert "(limit 64)" in capsys.readouterr().out
