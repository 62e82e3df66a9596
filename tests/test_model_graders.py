"""The model graders on random-weight models of the real architectures (no pretrained files here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_pipeline.model_graders import (
    AUDIOBOX_AXES,
    AudioboxAesthetics,
    ClapAlignment,
    MuqMulanAlignment,
)
from s2acc.clap import load_clap_checkpoint
from s2acc.hub import WeightsMissingError


def _clips(sr: int, seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    """Stereo tones plus noise, a different mix per clip."""
    rng = np.random.default_rng(seed)
    out = []
    for i, sec in enumerate(seconds):
        t = np.arange(int(sec * sr)) / sr
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)
        out.append(
            np.stack([tone, tone * 0.5]).astype(np.float32)
            + 0.05 * rng.standard_normal((2, len(t)), np.float32)
        )
    return out


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path / "empty"))


# --------------------------------------------------------------------------- Audiobox Aesthetics


@pytest.fixture(scope="module")
def audiobox_model() -> torch.nn.Module:
    """AesMultiOutput with its WavLM encoder shrunk (2 layers, 32 conv channels, same 320x stride)."""
    from audiobox_aesthetics.model.aes import AesMultiOutput
    from audiobox_aesthetics.model.wavlm import WavLM, WavLMConfig

    torch.manual_seed(0)
    target = {axis: {"mean": 5.0 + i, "std": 1.5} for i, axis in enumerate(AUDIOBOX_AXES)}
    model = AesMultiOutput(nth_layer=3, target_transform=target)
    model.wavlm_model = WavLM(
        WavLMConfig(
            {
                "encoder_layers": 2,
                "encoder_embed_dim": 768,
                "encoder_ffn_embed_dim": 128,
                "encoder_attention_heads": 4,
                "conv_feature_layers": "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
                "conv_pos": 16,
                "conv_pos_groups": 4,
                "relative_position_embedding": True,
                "gru_rel_pos": True,
            }
        )
    )
    return model.eval()


def test_audiobox_scores_four_finite_axes_deterministically(audiobox_model):
    grader = AudioboxAesthetics(model_obj=audiobox_model, batch_size=2)
    clips = _clips(16000, [3.0, 12.5, 0.5])
    first = grader.score(clips, 16000)
    assert len(first) == 3
    for row in first:
        assert set(row) == set(AUDIOBOX_AXES)
        assert all(np.isfinite(v) for v in row.values())
    assert first == grader.score(clips, 16000)
    assert len({row["CE"] for row in first}) == 3  # different audio, different scores


def test_audiobox_batch_equals_one_by_one_and_resamples(audiobox_model):
    clips = _clips(44100, [2.0, 11.0])
    batched = AudioboxAesthetics(model_obj=audiobox_model, batch_size=4).score(clips, 44100)
    single = [AudioboxAesthetics(model_obj=audiobox_model).score([c], 44100)[0] for c in clips]
    for b, s in zip(batched, single, strict=True):
        for axis in AUDIOBOX_AXES:
            assert b[axis] == pytest.approx(s[axis], abs=1e-4)
    # 44.1 kHz stereo input is graded as the same audio at 16 kHz mono would be
    from s2acc.audio import resample

    at16k = [resample(c, 44100, 16000).mean(axis=0, keepdims=True) for c in clips]
    direct = AudioboxAesthetics(model_obj=audiobox_model).score(at16k, 16000)
    for b, d in zip(batched, direct, strict=True):
        assert b["PQ"] == pytest.approx(d["PQ"], abs=1e-4)


def test_audiobox_rejects_an_empty_clip(audiobox_model):
    with pytest.raises(ValueError, match="empty"):
        AudioboxAesthetics(model_obj=audiobox_model).score([np.zeros((2, 0), np.float32)], 16000)


@pytest.mark.slow
def test_audiobox_loads_a_registry_style_snapshot(tmp_path):
    """The full-size architecture saved as config.json + model.safetensors and read back."""
    from audiobox_aesthetics.model.aes import AesMultiOutput

    torch.manual_seed(1)
    target = {axis: {"mean": 5.0, "std": 2.0} for axis in AUDIOBOX_AXES}
    AesMultiOutput(target_transform=target).save_pretrained(tmp_path)
    grader = AudioboxAesthetics(checkpoint=str(tmp_path))
    (row,) = grader.score(_clips(16000, [2.0]), 16000)
    assert set(row) == set(AUDIOBOX_AXES) and all(np.isfinite(v) for v in row.values())


def test_audiobox_without_weights_names_them(no_weights):
    with pytest.raises(WeightsMissingError, match="audiobox-aesthetics"):
        AudioboxAesthetics()


# --------------------------------------------------------------------------- LAION-CLAP


def test_clap_scores_are_deterministic_cosines(clap_model):
    grader = ClapAlignment(model_obj=clap_model)
    clip = _clips(48000, [4.0])[0]
    captions = ["the piano plays a gentle tune", "an energetic rock band"]
    first = grader.score([clip, clip], 48000, captions)
    assert len(first) == 2
    assert all(np.isfinite(v) and -1.0 <= v <= 1.0 for v in first)
    assert first[0] != first[1]  # same audio, the caption matters
    assert first == grader.score([clip, clip], 48000, captions)


def test_clap_batch_equals_one_by_one_long_clips_and_resampling(clap_model):
    grader = ClapAlignment(model_obj=clap_model, batch_size=3)
    clips = _clips(44100, [12.0, 3.0], seed=1)  # the first spans two 10 s windows
    captions = ["a tune", "the other tune"]
    batched = grader.score(clips, 44100, captions)
    single = [
        ClapAlignment(model_obj=clap_model).score([c], 44100, [t])[0]
        for c, t in zip(clips, captions, strict=True)
    ]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(-1.0 <= v <= 1.0 for v in batched)


def test_clap_checkpoint_loads_through_laion_clap_loader(clap_model, tmp_path):
    """A training checkpoint as laion_clap writes it: DDP "module." prefix, position_ids included."""

    state = {f"module.{k}": v.clone() for k, v in clap_model.model.state_dict().items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(80)[None]
    torch.save({"state_dict": state, "epoch": 15}, tmp_path / "clap.pt")
    weight = clap_model.model.text_projection[0].weight
    original = weight.detach().clone()
    with torch.no_grad():
        weight.zero_()
    load_clap_checkpoint(clap_model, tmp_path / "clap.pt")
    assert torch.equal(clap_model.model.text_projection[0].weight, original)


def test_clap_refuses_laion_clap_placeholder_tokenizer(clap_model):
    from laion_clap.training import data

    assert len(data.roberta_tokenizer) < ClapAlignment.MIN_VOCAB  # built offline at laion_clap import
    own = clap_model.tokenize
    clap_model.tokenize = data.roberta_tokenizer
    try:
        with pytest.raises(RuntimeError, match="roberta-base"):
            ClapAlignment(model_obj=clap_model)
    finally:
        clap_model.tokenize = own


def test_clap_without_weights_names_them(no_weights):
    with pytest.raises(WeightsMissingError, match="clap-laion-music") as err:
        ClapAlignment()
    assert "roberta-base" in str(err.value)


# --------------------------------------------------------------------------- MuQ-MuLan


def test_muq_mulan_needs_torchaudio_and_says_so():
    """MuQ computes mel spectrograms with torchaudio, which has no build for this CPU torch."""
    import importlib.util

    if importlib.util.find_spec("torchaudio") is not None and importlib.util.find_spec("muq") is not None:
        pytest.fail("muq and torchaudio are installed: replace this with a random-weight MuQ-MuLan test")
    with pytest.raises(RuntimeError, match="torchaudio"):
        MuqMulanAlignment(model_obj=torch.nn.Identity())  # weights at hand, the package still missing
