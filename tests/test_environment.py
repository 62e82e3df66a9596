"""The resolved environment: CPU torch without torchvision/torchaudio, numpy<2, laion_clap usable."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from s2acc.environment import check_environment


def test_every_environment_check_passes():
    failed = [f"{c.name}: {c.detail}" for c in check_environment() if not c.ok]
    assert failed == []


def test_laion_clap_imports_without_torchvision_and_without_blocking_on_the_hub():
    """A fresh interpreter, hub offline mode *not* set: the import must neither need torchvision
    nor wait on the network, must not leak a fake torchvision, and laion_clap's own HTSAT audio
    encoder must build and embed audio."""
    code = textwrap.dedent(
        """
        import importlib.util, sys, types, torch
        from s2acc.compat import import_laion_clap
        lc = import_laion_clap()
        assert hasattr(lc, "CLAP_Module")
        assert "torchvision" not in sys.modules
        assert importlib.util.find_spec("torchvision") is None
        from diffusers import AutoencoderOobleck  # still importable next to laion_clap
        from transformers import ClapModel
        from laion_clap.clap_module.htsat import create_htsat_model
        cfg = types.SimpleNamespace(audio_length=1024, clip_samples=480000, mel_bins=64,
            sample_rate=48000, window_size=1024, hop_size=480, fmin=50, fmax=14000,
            class_num=527, model_type="HTSAT", model_name="tiny")
        torch.manual_seed(0)
        model = create_htsat_model(cfg).eval()
        t = torch.arange(480000) / 48000
        audio = torch.stack([torch.sin(2 * torch.pi * 440 * t), torch.randn(480000) * 0.1])
        with torch.no_grad():
            out = model({"waveform": audio}, device="cpu")
        emb = out["embedding"]
        assert emb.shape == (2, 768), emb.shape
        assert torch.isfinite(emb).all() and (emb[0] - emb[1]).abs().max() > 1e-3
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_placeholders_fail_loudly_if_laion_clap_touches_vision_code():
    from s2acc.compat import TorchvisionUnavailable, import_laion_clap

    import_laion_clap()
    from laion_clap.clap_module import transform

    with pytest.raises(TorchvisionUnavailable, match="torchvision is not installed"):
        transform.Normalize(mean=[0.5], std=[0.5])


def test_numpy_is_below_two_for_laion_clap():
    assert int(np.__version__.split(".")[0]) < 2
