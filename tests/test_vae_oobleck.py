"""The Oobleck VAE: configs, strict loading, and chunked coding equal to whole-clip coding."""

from __future__ import annotations

import json

import pytest
import torch

from s2acc.vae import FULL_CONFIG, HOP, LATENT_RATE, build_vae, decode, encode, load_vae


@pytest.fixture(scope="module")
def vae():
    return build_vae("tiny", seed=0)


def test_full_config_is_stable_audio_open_size():
    from diffusers import AutoencoderOobleck

    with torch.device("meta"):
        model = AutoencoderOobleck(**FULL_CONFIG)
    n = sum(p.numel() for p in model.parameters())
    assert 150e6 < n < 160e6  # about 156M, as Stable Audio Open 1.0's VAE
    assert LATENT_RATE == pytest.approx(21.533, abs=1e-3)


def test_chunked_encode_and_decode_equal_one_pass(vae):
    torch.manual_seed(1)
    audio = 0.3 * torch.randn(2, 2, 60 * HOP + 777)  # not a whole number of frames
    whole = encode(vae, audio, chunk_frames=None)
    assert whole.shape == (2, 16, 61)
    chunked = encode(vae, audio, chunk_frames=16, overlap_frames=16)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)
    out_whole = decode(vae, whole, chunk_frames=None)
    out_chunked = decode(vae, whole, chunk_frames=16, overlap_frames=16)
    assert out_whole.shape == (2, 2, 61 * HOP)
    torch.testing.assert_close(out_chunked, out_whole, atol=1e-5, rtol=1e-4)


def test_too_little_overlap_shows_seams(vae):
    """The stated tolerance holds because of the overlap: without it the chunks' edges differ."""
    torch.manual_seed(2)
    audio = 0.3 * torch.randn(1, 2, 48 * HOP)
    whole = encode(vae, audio, chunk_frames=None)
    seamy = encode(vae, audio, chunk_frames=16, overlap_frames=0)
    assert (seamy - whole).abs().max() > 1e-3


def test_strict_loading_round_trip_and_errors(vae, tmp_path):
    vae.save_pretrained(tmp_path / "vae")
    back = load_vae(tmp_path)  # a snapshot folder with a vae/ subfolder works too
    for (name, a), (_, b) in zip(vae.state_dict().items(), back.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    cfg = json.loads((tmp_path / "vae" / "config.json").read_text())
    cfg["decoder_channels"] = 32  # weights no longer fit: an error, not random weights
    (tmp_path / "vae" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises((RuntimeError, ValueError)):
        load_vae(tmp_path / "vae")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_vae(tmp_path / "nothing")
    with pytest.raises(ValueError, match="twice"):
        build_vae({**FULL_CONFIG, "decoder_input_channels": 32})


def test_missing_or_extra_weights_are_refused(vae, tmp_path):
    from safetensors.torch import load_file, save_file

    vae.save_pretrained(tmp_path)
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state.pop("decoder.block.0.res_unit1.conv1.bias")
    save_file(state, weights)
    with pytest.raises(ValueError, match="missing_keys"):
        load_vae(tmp_path)
    state["decoder.block.0.res_unit1.conv1.bias"] = torch.zeros(16)
    state["junk.weight"] = torch.zeros(1)
    save_file(state, weights)
    with pytest.raises(ValueError, match="unexpected_keys"):
        load_vae(tmp_path)
