"""Separation backends: HPSS on synthesised tones and clicks, HTDemucs with a tiny random-weight model."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from data_pipeline.separation import (
    HARMONIC_STEM,
    DemucsSeparator,
    HpssSeparator,
    load_demucs_model,
    make_separator,
    vocal_energy_ratio,
)

SR = 22050
SOURCES = ["drums", "bass", "other", "vocals"]


def _energy(a: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    return float(np.sum(a * a))


def _tones_and_clicks(sr: int = SR, seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A sustained A minor chord and a train of 1.5 ms noise bursts, eight per two seconds."""
    t = np.arange(int(seconds * sr)) / sr
    tones = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))
    clicks = np.zeros_like(t)
    rng = np.random.default_rng(0)
    for k in range(int(seconds * 4)):
        start = int((k + 0.5) * sr / 4)
        clicks[start : start + 32] = 0.9 * np.hanning(32) * rng.choice([-1.0, 1.0], 32)
    return tones.astype(np.float32), clicks.astype(np.float32)


# ------------------------------------------------------------------------------------------ HPSS


def test_hpss_puts_tones_in_harmonic_and_clicks_in_percussive():
    tones, clicks = _tones_and_clicks()
    stems = HpssSeparator().separate(tones + clicks, SR)
    assert set(stems) == {"harmonic", "percussive"}
    harmonic, percussive = stems["harmonic"], stems["percussive"]
    assert harmonic.shape == percussive.shape == tones.shape
    assert harmonic.dtype == percussive.dtype == np.float32
    # Each stem is close to the component it should hold ...
    assert _energy(harmonic - tones) < 0.02 * _energy(tones)
    assert _energy(percussive - clicks) < 0.25 * _energy(clicks)
    # ... and holds little of the other one.
    assert np.dot(harmonic, clicks) < 0.2 * _energy(clicks)
    assert abs(np.dot(percussive, tones)) < 0.02 * _energy(tones)


def test_hpss_stems_sum_to_input_and_keep_the_stereo_image():
    tones, clicks = _tones_and_clicks(seconds=1.0)
    mix = tones + clicks
    stereo = np.stack([mix, 0.5 * mix + 0.1 * tones])
    for sep in (HpssSeparator(), HpssSeparator(kernel_size=(17, 31), margin=(2.0, 3.0))):
        stems = sep.separate(stereo, SR)
        assert tuple(stems) == sep.stems
        for stem in stems.values():
            assert stem.shape == stereo.shape and np.isfinite(stem).all()
        np.testing.assert_allclose(sum(stems.values()), stereo, atol=1e-5)
    # One mask for both channels: a channel that is a scaled copy of the other stays one.
    copy = np.stack([mix, 0.5 * mix])
    for stem in HpssSeparator().separate(copy, SR).values():
        np.testing.assert_allclose(stem[1], 0.5 * stem[0], atol=1e-6)


def test_hpss_margin_sends_the_ambiguous_part_to_residual():
    tones, clicks = _tones_and_clicks(seconds=1.0)
    noise = 0.05 * np.random.default_rng(1).standard_normal(tones.shape).astype(np.float32)
    stems = HpssSeparator(margin=3.0).separate(tones + clicks + noise, SR)
    assert set(stems) == {"harmonic", "percussive", "residual"}
    assert _energy(stems["residual"]) > 0.2 * _energy(noise)
    assert _energy(stems["harmonic"] - tones) < 0.1 * _energy(tones)


def test_hpss_masks_match_librosa():
    import librosa

    tones, clicks = _tones_and_clicks(seconds=1.0)
    mag = np.abs(librosa.stft(tones + clicks, n_fft=1024, hop_length=256))
    for kernel, margin in ((31, 1.0), ((17, 9), (2.0, 1.5))):
        harm, perc = HpssSeparator(n_fft=1024, hop_length=256, kernel_size=kernel, margin=margin).masks(mag)
        ref_h, ref_p = librosa.decompose.hpss(mag, kernel_size=kernel, margin=margin, mask=True)
        np.testing.assert_allclose(harm, ref_h, atol=1e-5)
        np.testing.assert_allclose(perc, ref_p, atol=1e-5)


def test_hpss_mono_and_empty_inputs():
    tones, clicks = _tones_and_clicks(seconds=0.5)
    stems = HpssSeparator().separate(tones + clicks, SR)
    assert all(s.shape == tones.shape for s in stems.values())
    empty = HpssSeparator().separate(np.zeros((2, 0), np.float32), SR)
    assert all(s.shape == (2, 0) for s in empty.values())
    with pytest.raises(ValueError, match="channels, samples"):
        HpssSeparator().separate(np.zeros((1, 2, 100), np.float32), SR)


@pytest.mark.parametrize(
    "kwargs",
    [{"margin": 0.5}, {"power": 0.0}, {"kernel_size": 0}, {"hop_length": 4096}, {"hop_length": 0}],
)
def test_hpss_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        HpssSeparator(**kwargs)


# ------------------------------------------------------------------------------ shared functions


def test_vocal_energy_ratio():
    ones = np.ones((2, 100), np.float32)
    assert vocal_energy_ratio({"harmonic": ones, "percussive": ones}) == 0.0
    assert vocal_energy_ratio({"vocals": ones, "other": 0 * ones}) == pytest.approx(1.0)
    assert vocal_energy_ratio({s: ones for s in SOURCES}) == pytest.approx(0.25)
    assert vocal_energy_ratio({"vocals": 2 * ones, "other": ones}) == pytest.approx(0.8)
    damaged = ones.copy()
    damaged[0, :50] = np.nan
    assert vocal_energy_ratio({"vocals": ones, "other": damaged}) == pytest.approx(200 / 350)
    assert vocal_energy_ratio({"vocals": 0 * ones, "other": 0 * ones}) == 0.0


def test_make_separator():
    sep = make_separator("hpss", kernel_size=15, margin=2.0)
    assert isinstance(sep, HpssSeparator) and sep.kernel_harm == 15 and "residual" in sep.stems
    assert HARMONIC_STEM["hpss"] in sep.stems
    with pytest.raises(ValueError, match="unknown separation backend 'spleeter'"):
        make_separator("spleeter")
    with pytest.raises(TypeError):
        make_separator("hpss", window="hann")


# ---------------------------------------------------------------------------------------- Demucs


def _tiny_htdemucs(seed: int = 0, **overrides) -> torch.nn.Module:
    """HTDemucs at 8 kHz with 8 channels, depth 2 and one cross-transformer layer: the real
    architecture (spectral and temporal branches, transformer), random weights."""
    from demucs.htdemucs import HTDemucs

    kwargs = dict(
        sources=SOURCES,
        audio_channels=2,
        samplerate=8000,
        segment=Fraction(1),
        channels=8,
        depth=2,
        nfft=256,
        t_layers=1,
        t_heads=2,
        dconv_comp=4,
    )
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return HTDemucs(**kwargs).eval()


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    return _tiny_htdemucs()


def test_demucs_stems_have_the_input_shape(tiny_model):
    tones, clicks = _tones_and_clicks(sr=44100, seconds=1.5)
    stereo = np.stack([tones + clicks, tones - 0.5 * clicks])
    sep = DemucsSeparator(model=tiny_model, segment=0.5)
    assert sep.stems == tuple(SOURCES) and HARMONIC_STEM["htdemucs"] in sep.stems
    stems = sep.separate(stereo, 44100)  # resampled to the model's 8 kHz and back
    assert list(stems) == SOURCES
    for stem in stems.values():
        assert stem.shape == stereo.shape and stem.dtype == np.float32
        assert np.isfinite(stem).all() and _energy(stem) > 0
    assert 0.0 < vocal_energy_ratio(stems) < 1.0
    # 1-D and (1, samples) mono come back in their own layout.
    mono = sep.separate(stereo[0], 44100)
    assert all(s.shape == stereo[0].shape for s in mono.values())
    mono2d = sep.separate(stereo[:1], 44100)
    for name in SOURCES:
        np.testing.assert_allclose(mono2d[name][0], mono[name], atol=1e-6)
    empty = sep.separate(np.zeros((2, 0), np.float32), 44100)
    assert all(s.shape == (2, 0) for s in empty.values())


def test_demucs_is_deterministic_and_leaves_the_global_generator_alone(tiny_model):
    rng = np.random.default_rng(3)
    audio = (0.1 * rng.standard_normal((2, 4000))).astype(np.float32)
    sep = DemucsSeparator(model=tiny_model, shifts=1, seed=7)
    random.seed(1234)
    before = random.getstate()
    first = sep.separate(audio, 8000)
    assert random.getstate() == before
    second = sep.separate(audio, 8000)
    for name in SOURCES:
        np.testing.assert_array_equal(first[name], second[name])
    other_seed = DemucsSeparator(model=tiny_model, shifts=1, seed=8).separate(audio, 8000)
    assert any(not np.allclose(first[s], other_seed[s]) for s in SOURCES)


def test_demucs_chunked_inference_agrees_with_single_passes(tiny_model):
    """Inside one window, split inference is the model's own single pass; past the first window
    the cross-faded chunks start, but the part only the first window covers is that window's pass."""
    sr = 8000
    t = np.arange(sr) / sr
    # 40 Hz periodic content: any 0.5 s window has the same mean and spread as the whole signal,
    # so the separator's level normalisation is the same for the full input and its first window.
    wave = 0.3 * np.sin(2 * np.pi * 40 * t) + 0.1 * np.sign(np.sin(2 * np.pi * 120 * t))
    audio = np.stack([wave, 0.7 * wave]).astype(np.float32)
    window = sr // 2

    whole = DemucsSeparator(model=tiny_model, split=False).separate(audio[:, :window], sr)
    split_one = DemucsSeparator(model=tiny_model, split=True).separate(audio[:, :window], sr)
    for name in SOURCES:
        np.testing.assert_allclose(split_one[name], whole[name], atol=1e-5)

    chunked = DemucsSeparator(model=tiny_model, segment=0.5, overlap=0.25).separate(audio, sr)
    first = DemucsSeparator(model=tiny_model, segment=0.5, split=False).separate(audio[:, :window], sr)
    stride = int(0.75 * window)
    for name in SOURCES:
        assert chunked[name].shape == audio.shape
        np.testing.assert_allclose(chunked[name][:, :stride], first[name][:, :stride], atol=1e-4)


def test_demucs_rejects_bad_settings_and_inputs(tiny_model):
    with pytest.raises(ValueError, match="longer than the model's training length"):
        DemucsSeparator(model=tiny_model, segment=2.0)
    with pytest.raises(ValueError, match="overlap"):
        DemucsSeparator(model=tiny_model, overlap=1.0)
    with pytest.raises(ValueError, match="mono or 2-channel"):
        DemucsSeparator(model=tiny_model).separate(np.zeros((3, 800), np.float32), 8000)


def test_make_separator_builds_demucs(tiny_model):
    sep = make_separator("htdemucs", model=tiny_model, segment=0.5, overlap=0.5)
    assert isinstance(sep, DemucsSeparator) and sep.samplerate == 8000 and sep.overlap == 0.5


# ------------------------------------------------------------------------------ Demucs packages


def _package(model: torch.nn.Module, **extra) -> dict:
    """The layout ``demucs.states.serialize_model`` writes, with the weights stored in half precision."""
    from demucs.states import get_state

    args, kwargs = model._init_args_kwargs
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": dict(kwargs),
        "state": get_state(model, None, half=True),
        "training_args": {"lr": np.float64(3e-4), "epochs": np.int64(360), "dset": {"name": "tiny"}},
    }
    package.update(extra)
    return package


def test_load_demucs_model_round_trip(tmp_path, tiny_model):
    path = tmp_path / "tiny.th"
    torch.save(_package(tiny_model), path)
    loaded = load_demucs_model(path)
    assert type(loaded) is type(tiny_model) and not loaded.training
    assert loaded.sources == SOURCES and loaded.samplerate == 8000 and loaded.segment == Fraction(1)
    for name, value in tiny_model.state_dict().items():
        np.testing.assert_allclose(loaded.state_dict()[name], value.half().float())
    # The file path is accepted by the separator too, and the result is the loaded model's.
    audio = (0.1 * np.random.default_rng(5).standard_normal((2, 6000))).astype(np.float32)
    from_file = DemucsSeparator(model=path, split=False).separate(audio, 8000)
    from_model = DemucsSeparator(model=loaded, split=False).separate(audio, 8000)
    for name in SOURCES:
        np.testing.assert_array_equal(from_file[name], from_model[name])


def test_load_demucs_model_is_strict(tmp_path, tiny_model):
    package = _package(tiny_model)
    missing = next(iter(package["state"]))
    del package["state"][missing]
    torch.save(package, tmp_path / "missing.th")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_demucs_model(tmp_path / "missing.th")

    # A constructor argument this demucs does not know is dropped with a warning.
    package = _package(tiny_model)
    package["kwargs"]["retired_option"] = 3
    torch.save(package, tmp_path / "extra.th")
    with pytest.warns(UserWarning, match="retired_option"):
        load_demucs_model(tmp_path / "extra.th")

    # A model whose architecture differs from the stored weights fails on the shapes.
    package = _package(tiny_model)
    package["kwargs"]["channels"] = 4
    torch.save(package, tmp_path / "shape.th")
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_demucs_model(tmp_path / "shape.th")

    torch.save({"klass": package["klass"], "state": package["state"]}, tmp_path / "partial.th")
    with pytest.raises(ValueError, match="not a Demucs model package"):
        load_demucs_model(tmp_path / "partial.th")

    with pytest.raises(FileNotFoundError):
        load_demucs_model(tmp_path / "absent.th")


class _TouchOnLoad:
    """Unpickling this object creates a file: a stand-in for a hostile payload."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_load_demucs_model_refuses_unlisted_globals(tmp_path, tiny_model):
    marker = tmp_path / "unpickled"
    path = tmp_path / "hostile.th"
    torch.save(_package(tiny_model, training_args={"hook": _TouchOnLoad(marker)}), path)
    with pytest.raises(ValueError, match="outside the allowlist"):
        load_demucs_model(path)
    assert not marker.exists()

    # Another model class is not admitted either, even one from demucs itself.
    from demucs.hdemucs import HDemucs

    torch.save(_package(tiny_model, klass=HDemucs), tmp_path / "hdemucs.th")
    with pytest.raises(ValueError, match="demucs.hdemucs.HDemucs"):
        load_demucs_model(tmp_path / "hdemucs.th")

    # Files in the legacy (non-zip) format cannot be inspected, so they are refused.
    torch.save(_package(tiny_model), tmp_path / "legacy.th", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="not a readable torch package"):
        load_demucs_model(tmp_path / "legacy.th")
