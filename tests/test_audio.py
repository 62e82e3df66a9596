import numpy as np
import pytest
import soundfile as sf

from s2acc.audio import (
    AudioError,
    crop_or_pad,
    info,
    integrated_loudness,
    normalize_loudness,
    read_audio,
    resample,
    to_mono,
    to_stereo,
    write_audio,
)

SR = 44100


def tone(freq=440.0, seconds=1.0, sr=SR, channels=2, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)])


@pytest.mark.parametrize(
    "ext, bits, tol",
    [
        (".wav", "16", 1e-4),
        (".wav", "24", 1e-6),
        (".wav", "float", 0.0),
        (".flac", "16", 1e-4),
        (".flac", "24", 1e-6),
    ],
)
def test_lossless_round_trip(tmp_path, ext, bits, tol):
    x = tone()
    path = write_audio(tmp_path / f"a{ext}", x, SR, bits=bits)
    y, sr = read_audio(path)
    assert sr == SR and y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y - x).max() <= tol
    assert info(path).channels == 2 and info(path).frames == x.shape[1]
    assert info(path).duration == pytest.approx(1.0)


@pytest.mark.parametrize("ext", [".ogg", ".mp3"])
def test_lossy_round_trip_keeps_the_signal(tmp_path, ext):
    x = tone(seconds=2.0)
    y, sr = read_audio(write_audio(tmp_path / f"a{ext}", x, SR))
    assert sr == SR and y.shape[0] == 2
    assert abs(y.shape[1] - x.shape[1]) < 4096  # codec delay and frame padding only
    for c in range(2):
        spectrum = np.abs(np.fft.rfft(y[c]))
        assert np.argmax(spectrum) * SR / y.shape[1] == pytest.approx(440, abs=1)
        rms_x, rms_y = np.sqrt((x[c] ** 2).mean()), np.sqrt((y[c, 4096:-4096] ** 2).mean())
        assert rms_y == pytest.approx(rms_x, rel=0.1)


def test_read_window_mono_and_resample(tmp_path):
    path = write_audio(tmp_path / "a.wav", tone(seconds=2.0), SR, bits="float")
    y, sr = read_audio(path, offset=0.5, duration=1.0)
    assert y.shape == (2, SR)
    y, sr = read_audio(path, sr=16000, mono=True)
    assert sr == 16000 and y.shape == (1, 32000)
    spectrum = np.abs(np.fft.rfft(y[0]))
    assert np.argmax(spectrum) * 16000 / y.shape[1] == pytest.approx(440, abs=1)


def test_resample_preserves_pitch_and_length():
    x = tone(1000.0, seconds=1.0)
    y = resample(x, SR, 48000)
    assert y.shape == (2, 48000) and y.dtype == np.float32
    f = np.argmax(np.abs(np.fft.rfft(y[0]))) * 48000 / y.shape[1]
    assert f == pytest.approx(1000, abs=1)
    assert resample(x, SR, SR) is x


def test_channel_and_length_helpers():
    x = tone(channels=2)
    assert to_mono(x).shape == (1, SR)
    np.testing.assert_allclose(to_mono(x)[0], x.mean(axis=0), rtol=1e-6)
    assert to_stereo(to_mono(x)).shape == (2, SR)
    assert to_stereo(tone(channels=6)).shape == (2, SR)
    padded = crop_or_pad(x, SR + 100)
    assert padded.shape == (2, SR + 100) and not padded[:, SR:].any()
    np.testing.assert_array_equal(crop_or_pad(x, 100, offset=50), x[:, 50:150])


def test_loudness_measure_and_normalise():
    # BS.1770: a 997 Hz full-scale sine in one channel reads -3.01 LUFS
    x = np.zeros((2, 5 * 48000), np.float32)
    x[0] = np.sin(2 * np.pi * 997 * np.arange(5 * 48000) / 48000)
    assert integrated_loudness(x, 48000) == pytest.approx(-3.01, abs=0.05)
    quiet = tone(amp=0.01, seconds=3.0)
    y = normalize_loudness(quiet, SR, target_lufs=-20.0)
    assert integrated_loudness(y, SR) == pytest.approx(-20.0, abs=0.1)
    loud = normalize_loudness(tone(seconds=3.0), SR, target_lufs=0.0, peak_limit=0.9)
    assert np.abs(loud).max() == pytest.approx(0.9, abs=1e-4)  # the peak limit wins
    silent = np.zeros((2, SR), np.float32)
    assert integrated_loudness(silent, SR) == float("-inf")
    assert normalize_loudness(silent, SR) is silent


def test_bad_inputs_raise_one_clear_error(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match=r"missing\.wav: file does not exist"):
        read_audio(missing)
    with pytest.raises(AudioError, match="is a directory"):
        read_audio(tmp_path)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        read_audio(text)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), SR)
    with pytest.raises(AudioError, match=r"empty\.wav: audio is empty"):
        read_audio(empty)
    nan = tmp_path / "nan.wav"
    data = np.zeros((100, 1), np.float32)
    data[10] = np.nan
    sf.write(nan, data, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN or infinite"):
        read_audio(nan)
    truncated = tmp_path / "truncated.flac"
    write_audio(truncated, tone(seconds=1.0), SR)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(AudioError, match=r"truncated\.flac"):
        read_audio(truncated)
    err = AudioError(missing, "why")
    assert err.path == str(missing) and err.reason == "why"


def test_bad_writes_leave_nothing_behind(tmp_path):
    x = tone()
    with pytest.raises(AudioError, match=r"unsupported extension '\.aac'"):
        write_audio(tmp_path / "a.aac", x, SR)
    with pytest.raises(AudioError, match="NaN or infinite"):
        write_audio(tmp_path / "b.wav", np.full((2, 10), np.inf, np.float32), SR)
    with pytest.raises(AudioError, match="FLAC cannot store float"):
        write_audio(tmp_path / "c.flac", x, SR, bits="float")
    with pytest.raises(AudioError, match=r"expected \(channels, samples\)"):
        write_audio(tmp_path / "d.wav", x[0], SR)
    assert list(tmp_path.iterdir()) == []


def test_aiff_reads_back_what_was_written(tmp_path):
    x = tone()
    y, sr = read_audio(write_audio(tmp_path / "a.aiff", x, SR))
    assert sr == SR and y.shape == x.shape and np.abs(y - x).max() < 1e-4


def test_sixteen_bit_clips_out_of_range(tmp_path):
    x = np.array([[0.5, 1.5, -2.0]], np.float32)
    y, _ = read_audio(write_audio(tmp_path / "c.wav", x, SR, bits="16"))
    assert y.max() <= 1.0 and y.min() >= -1.0 and y[0, 1] > 0.99 and y[0, 2] == -1.0
