"""The submission validator accepts a well-formed package and names every fault of broken ones."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import soundfile as sf

from submissions.validate import validate

SR = 44100
IDS = ["p001", "p002", "p003"]


def wav(
    seconds: float = 10.5, sr: int = SR, kind: str = "music", subtype: str = "PCM_16", fmt: str = "WAV"
) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    x = np.stack([x, x]).T.astype(np.float32)
    if kind == "silent":
        x[:] = 0
    elif kind == "clipped":
        x = np.clip(x * 20, -1, 1)
    elif kind in ("nan", "inf"):
        x[1000:1100] = np.nan if kind == "nan" else np.inf
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format=fmt)
    return buf.getvalue()


def good_files() -> dict[str, bytes]:
    return {f"{i}.wav": wav() for i in IDS}


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("id,prompt\n" + "".join(f'{i},"A calm piano piece, number {i}"\n' for i in IDS))
    return path


def make_zip(tmp_path, files: list[tuple[str, bytes]], name: str = "sub.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for entry, data in files:
            z.writestr(entry, data)
    return path


def test_a_well_formed_package_passes_as_zip_and_folder(tmp_path, prompts):
    files = [*good_files().items(), ("manifest.json", b"{}")]
    report = validate(make_zip(tmp_path, files), prompts)
    assert report.ok, str(report)
    assert report.checked == 3
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, data in files:
        (folder / name).write_bytes(data)
    assert validate(folder, prompts).ok


BROKEN = {
    "missing file": (
        lambda f: [(n, d) for n, d in f.items() if n != "p002.wav"],
        "missing 1 of 3 files: p002.wav",
    ),
    "extra id": (lambda f: [*f.items(), ("p999.wav", wav())], "p999.wav: no prompt has id 'p999'"),
    "duplicate entry": (lambda f: [*f.items(), ("p001.wav", wav())], "p001.wav: appears 2 times"),
    "not a wav name": (lambda f: [*f.items(), ("notes.txt", b"hello")], "notes.txt: not a {id}.wav file"),
    "wrong case": (
        lambda f: [(n.upper() if n == "p003.wav" else n, d) for n, d in f.items()],
        "P003.WAV: wrong letter case",
    ),
    "nested folder": (
        lambda f: [(("sub/" + n) if n == "p001.wav" else n, d) for n, d in f.items()],
        "sub/p001.wav: inside a folder",
    ),
    "escaping name": (lambda f: [*f.items(), ("../p001.wav", wav())], "../p001.wav: escapes the package"),
    "absolute name": (lambda f: [*f.items(), ("/p002.wav", wav())], "/p002.wav: escapes the package"),
    "48 kHz": (lambda f: {**f, "p001.wav": wav(sr=48000)}.items(), "p001.wav: sample rate 48000 Hz"),
    "too short": (lambda f: {**f, "p002.wav": wav(seconds=9.5)}.items(), "p002.wav: 9.50 s long"),
    "nan": (
        lambda f: {**f, "p003.wav": wav(kind="nan", subtype="FLOAT")}.items(),
        "p003.wav: NaN or infinite",
    ),
    "inf": (
        lambda f: {**f, "p003.wav": wav(kind="inf", subtype="FLOAT")}.items(),
        "p003.wav: NaN or infinite",
    ),
    "silence": (lambda f: {**f, "p001.wav": wav(kind="silent")}.items(), "p001.wav: silent"),
    "clipping": (lambda f: {**f, "p002.wav": wav(kind="clipped")}.items(), "p002.wav: "),
    "text named wav": (
        lambda f: {**f, "p003.wav": b"this is not audio"}.items(),
        "p003.wav: not a readable audio",
    ),
    "flac named wav": (
        lambda f: {**f, "p001.wav": wav(fmt="FLAC")}.items(),
        "p001.wav: a FLAC file named .wav",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_package_is_rejected_with_its_reason(tmp_path, prompts, case):
    build, message = BROKEN[case]
    report = validate(make_zip(tmp_path, list(build(good_files()))), prompts)
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors
    if case == "clipping":
        assert any("clipped" in e for e in report.errors)


def test_unreadable_package_and_bad_prompt_files(tmp_path, prompts):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK not really")
    report = validate(bad, prompts)
    assert not report.ok and "not a readable zip" in report.errors[0]
    assert "does not exist" in validate(tmp_path / "nope.zip", prompts).errors[0]
    dup = tmp_path / "dup.csv"
    dup.write_text("id,prompt\na,x\na,y\n")
    with pytest.raises(ValueError, match="duplicate prompt ids"):
        validate(make_zip(tmp_path, []), dup)
    noid = tmp_path / "noid.csv"
    noid.write_text("name,prompt\na,x\n")
    with pytest.raises(ValueError, match="'id' column"):
        validate(make_zip(tmp_path, []), noid)


def test_every_fault_is_reported_in_one_run(tmp_path, prompts):
    files = {**good_files(), "p001.wav": wav(sr=22050, seconds=5), "p002.wav": wav(kind="silent")}
    report = validate(make_zip(tmp_path, [*files.items(), ("x.txt", b"")]), prompts)
    text = str(report)
    for fragment in ("p001.wav: sample rate 22050", "p001.wav: 5.00 s", "p002.wav: silent", "x.txt"):
        assert fragment in text


def test_command_line_reports_and_sets_the_exit_status(tmp_path, prompts):
    import subprocess
    import sys

    good = make_zip(tmp_path, list(good_files().items()), "good.zip")
    bad = make_zip(tmp_path, [("p001.wav", wav())], "bad.zip")
    cmd = [sys.executable, "-m", "s2acc", "submit", "validate", "--prompts", str(prompts)]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "valid: 3 files" in ok.stdout
    fail = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert fail.returncode == 1 and "missing 2 of 3 files" in fail.stdout


def test_extensible_headers_boms_corrupt_members_and_links(tmp_path, prompts):
    files = good_files()  # p001 gets the extensible header that ffmpeg and sox write above 16 bits
    t = np.arange(int(10.5 * SR)) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, x]).T, SR, subtype="PCM_24", format="WAVEX")
    files["p001.wav"] = buf.getvalue()
    assert sf.info(io.BytesIO(files["p001.wav"])).format == "WAVEX"
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffid,prompt\n".encode() + "".join(f"{i},x\n" for i in IDS).encode())
    assert validate(make_zip(tmp_path, list(files.items())), bom).ok

    path = make_zip(tmp_path, list(good_files().items()), "corrupt.zip")
    data = bytearray(path.read_bytes())
    start = data.find(b"RIFF")
    data[start + 2000 : start + 2010] = b"\xff" * 10  # damage one member's bytes (CRC mismatch)
    path.write_bytes(bytes(data))
    report = validate(path, prompts)
    assert [e.split(" (")[0] for e in report.errors] == ["p001.wav: cannot be read"], report.errors
    assert "the zip holds it damaged" in report.errors[0]

    folder = tmp_path / "linked"
    folder.mkdir()
    for name, content in good_files().items():
        (folder / name).write_bytes(content)
    (tmp_path / "outside.wav").write_bytes(wav())
    (folder / "p001.wav").unlink()
    (folder / "p001.wav").symlink_to(tmp_path / "outside.wav")
    assert any("symbolic link" in e for e in validate(folder, prompts).errors)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,prompt\n")
    with pytest.raises(ValueError, match="no prompts"):
        validate(folder, empty)


def test_a_zip_bomb_is_refused_from_its_directory_without_inflating_it(tmp_path, prompts):
    import time
    import tracemalloc

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in good_files().items():
            z.writestr(name, data)
        z.writestr("manifest.json", b" " * (2 << 20))
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z,
        z.open("p004.wav", "w", force_zip64=True) as f,
    ):
        block = bytes(1 << 20)
        for _ in range(200):  # 200 MB of zeros, a few hundred kB packed
            f.write(block)
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("p004.wav").compress_size < 1_000_000
    ids = tmp_path / "ids.csv"
    ids.write_text("id,prompt\n" + "".join(f"{i},x\n" for i in [*IDS, "p004"]))
    tracemalloc.start()
    start = time.perf_counter()
    report = validate(path, ids)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [e for e in report.errors if e.startswith("p004.wav")] == [
        "p004.wav: 209.7 MB once unpacked, more than a clip of up to 60 s of 44.1 kHz stereo can be (42.4 MB)"
    ]
    assert any(
        e.startswith("manifest.json: 2.1 MB once unpacked, more than a manifest") for e in report.errors
    )
    assert len(report.errors) == 2 and report.checked == 4  # the three good clips still pass
    assert seconds < 5 and peak < 50 * 2**20, (seconds, peak)
