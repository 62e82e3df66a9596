"""stable-audio-tools / DiffRhythm Oobleck checkpoints load strictly into diffusers' AutoencoderOobleck."""

from __future__ import annotations

import pytest
import torch

from s2acc.vae import TINY_CONFIG, build_vae
from s2acc.vae.convert import ConversionError, sat_to_diffusers
from s2acc.vae.oobleck import load_diffrhythm_vae


def sat_state(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in stable-audio-tools' numbered layout, written from its module structure as its
    ``models/autoencoders.py`` builds it (checked against that source): OobleckEncoder is
    [WNConv1d k7, EncoderBlock x n, activation, WNConv1d k3]; EncoderBlock [ResidualUnit d1, d3, d9,
    activation, strided WNConv1d]; OobleckDecoder [WNConv1d k7, DecoderBlock x n, activation, WNConv1d k7
    without bias, Tanh/Identity]; DecoderBlock [activation, WNConvTranspose1d, ResidualUnit d1, d3, d9];
    ResidualUnit [activation, WNConv1d k7, activation, WNConv1d k1]; SnakeBeta's alpha and beta are (C,)
    log-scale; weight norm is torch.nn.utils.weight_norm (weight_g, weight_v). The decoder variant with
    ``use_nearest_upsample`` (no released VAE uses it) has other keys and is not converted."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(key, c_in, c_out, k, bias=True, transpose=False):
        shape = (c_in, c_out, k) if transpose else (c_out, c_in, k)
        state[f"{key}.weight_v"] = torch.randn(shape, generator=g)
        state[f"{key}.weight_g"] = torch.rand((shape[0], 1, 1), generator=g) + 0.5
        if bias:
            state[f"{key}.bias"] = torch.randn(c_out, generator=g)

    def snake(key, c):
        state[f"{key}.alpha"] = torch.randn(c, generator=g)
        state[f"{key}.beta"] = torch.randn(c, generator=g)

    def residual(key, c):
        snake(f"{key}.layers.0", c)
        conv(f"{key}.layers.1", c, c, 7)
        snake(f"{key}.layers.2", c)
        conv(f"{key}.layers.3", c, c, 1)

    mults = [1, *cfg["channel_multiples"]]
    strides, n = cfg["downsampling_ratios"], len(cfg["downsampling_ratios"])
    ch, dch = cfg["encoder_hidden_size"], cfg["decoder_channels"]
    conv("encoder.layers.0", cfg["audio_channels"], ch * mults[0], 7)
    for i in range(1, n + 1):
        c_in, c_out = ch * mults[i - 1], ch * mults[i]
        for r in range(3):
            residual(f"encoder.layers.{i}.layers.{r}", c_in)
        snake(f"encoder.layers.{i}.layers.3", c_in)
        conv(f"encoder.layers.{i}.layers.4", c_in, c_out, 2 * strides[i - 1])
    snake(f"encoder.layers.{n + 1}", ch * mults[-1])
    conv(f"encoder.layers.{n + 2}", ch * mults[-1], cfg["encoder_hidden_size"], 3)
    conv("decoder.layers.0", cfg["decoder_input_channels"], dch * mults[-1], 7)
    for i in range(1, n + 1):
        c_in, c_out = dch * mults[n + 1 - i], dch * mults[n - i]
        snake(f"decoder.layers.{i}.layers.0", c_in)
        conv(f"decoder.layers.{i}.layers.1", c_in, c_out, 2 * strides[n - i], transpose=True)
        for r in range(2, 5):
            residual(f"decoder.layers.{i}.layers.{r}", c_out)
    snake(f"decoder.layers.{n + 1}", dch)
    conv(f"decoder.layers.{n + 2}", dch, cfg["audio_channels"], 7, bias=False)
    return state


def test_numbered_layout_loads_strictly_and_maps_values():
    sat = sat_state(TINY_CONFIG)
    converted = sat_to_diffusers({f"pretransform.model.{k}": v for k, v in sat.items()})
    vae = build_vae("tiny")
    vae.load_state_dict(converted, strict=True)  # every key present, every shape right
    state = vae.state_dict()
    torch.testing.assert_close(
        state["encoder.block.2.conv1.weight_v"], sat["encoder.layers.3.layers.4.weight_v"]
    )
    torch.testing.assert_close(
        state["decoder.block.0.res_unit2.conv1.bias"], sat["decoder.layers.1.layers.3.layers.1.bias"]
    )
    torch.testing.assert_close(state["decoder.snake1.alpha"], sat["decoder.layers.6.alpha"].reshape(1, -1, 1))
    assert len(converted) == len(sat)


def effective_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What each weight-normalised conv computes with: g * v / ||v|| (norm over all dims but 0)."""
    return {
        k[: -len(".weight_v")]: state[k[: -len(".weight_v")] + ".weight_g"]
        * v
        / v.norm(dim=(1, 2), keepdim=True)
        for k, v in state.items()
        if k.endswith(".weight_v")
    }


def test_weight_norm_forms_give_the_same_model():
    sat = sat_state(TINY_CONFIG, seed=1)
    reference = sat_to_diffusers(sat)
    fused, param = {}, {}
    for key, value in sat.items():
        if key.endswith(".weight_v"):
            base = key[: -len(".weight_v")]
            g = sat[base + ".weight_g"]
            fused[base + ".weight"] = g * value / value.norm(dim=(1, 2), keepdim=True)
            param[base + ".parametrizations.weight.original1"] = value
            param[base + ".parametrizations.weight.original0"] = g
        elif not key.endswith(".weight_g"):
            fused[key] = param[key] = value
    expected = effective_weights(reference)
    for variant in (fused, param):
        converted = sat_to_diffusers(variant)
        build_vae("tiny").load_state_dict(converted, strict=True)
        got = effective_weights(converted)
        assert got.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5, msg=name)
        assert all(
            torch.equal(converted[k], reference[k])
            for k in reference
            if k.endswith(("alpha", "beta", "bias"))
        )


def test_round_trip_through_a_checkpoint_file(tmp_path):
    sat = sat_state(TINY_CONFIG, seed=2)
    torch.save({"state_dict": {f"autoencoder.{k}": v for k, v in sat.items()}}, tmp_path / "vae.ckpt")
    vae = load_diffrhythm_vae(tmp_path / "vae.ckpt", config=TINY_CONFIG)
    expected = sat_to_diffusers(sat)
    for key, value in vae.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)


def test_foreign_keys_are_refused():
    with pytest.raises(ConversionError, match="no encoder"):
        sat_to_diffusers({"transformer.weight": torch.zeros(1)})
    with pytest.raises(ConversionError, match="layer 9"):
        sat_to_diffusers({"encoder.layers.9.alpha": torch.zeros(4)})
    bad = sat_state(TINY_CONFIG)
    bad.pop("decoder.layers.7.weight_v")
    with pytest.raises(RuntimeError, match="decoder.conv2.weight_v"):
        build_vae("tiny").load_state_dict(sat_to_diffusers(bad), strict=True)
