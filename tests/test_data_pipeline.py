"""The dataset job end to end: bad input, resume after a kill, multi-process runs, selection, report."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from launch import accelerate_launch

from data_pipeline.config import DataConfig
from data_pipeline.metadata import read_mtg_tsv
from data_pipeline.pipeline import run_pipeline
from data_pipeline.report import write_report
from data_pipeline.runner import TIME_COLUMN
from data_pipeline.select import select, split_of
from s2acc.audio import write_audio
from s2acc.config import ConfigError, from_dict
from s2acc.synth.corpus import SynthConfig, generate_corpus

SR = 44100
TABLES = (
    "ingest",
    "separate",
    "leadsheet",
    "segment",
    "caption",
    "grade",
    "dataset",
    "train",
    "val",
    "failures",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(
        SynthConfig(seed=11, n_tracks=4, min_seconds=16, max_seconds=22, format="wav", defects=0.5),
        root,
        progress=False,
        workers=1,
    )
    return root


def config(corpus: Path, out: Path, **extra) -> DataConfig:
    data = {
        "out": str(out),
        "input": {
            "root": str(corpus),
            "tags_table": str(corpus / "truth.parquet"),
            "reference_captions": str(corpus / "captions.json"),
        },
        "leadsheet": {"backend": "librosa"},
        "segment": {"min_seconds": 4.0, "max_seconds": 10.0},
        "select": {"fraction": 0.3, "val_fraction": 0.3},
        **extra,
    }
    return from_dict(DataConfig, data)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every final table, without the per-item timing column (the one thing runs may differ in)."""
    result = {}
    for name in TABLES:
        table = pd.read_parquet(out / f"{name}.parquet")
        result[name] = table.drop(columns=[TIME_COLUMN], errors="ignore")
    return result


def assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    for name in TABLES:
        left, right = ta[name], tb[name]
        for col in ("path", "leadsheet"):  # absolute paths name the run's own folder
            if col in left:
                left, right = left.drop(columns=col), right.drop(columns=col)
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-6, obj=name)


@pytest.fixture(scope="module")
def reference_run(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    run_pipeline(config(corpus, out), progress=False)
    return out


def test_pipeline_produces_a_graded_selected_split_dataset(reference_run, corpus):
    t = tables(reference_run)
    truth = pd.read_parquet(corpus / "truth.parquet")
    assert set(t["ingest"]["track_id"]) == set(truth["track_id"].astype(str))
    ds = t["dataset"]
    assert len(ds) == len(t["segment"]) == len(t["caption"]) == len(t["grade"])
    assert ds["duration"].between(4.0 - 1e-6, 10.0 + 1e-6).all() or ds.groupby("track_id").size().min() == 1
    assert ds["selected"].sum() == int(np.ceil(0.3 * len(ds)))
    assert (ds["rank"].min(), ds["rank"].is_monotonic_increasing) == (1, True)
    assert set(ds.loc[ds["selected"], "segment_id"]) == set(t["train"]["segment_id"]) | set(
        t["val"]["segment_id"]
    )
    assert not set(t["train"]["track_id"]) & set(t["val"]["track_id"])
    assert ds["caption"].str.len().gt(20).all()
    for rel in t["leadsheet"]["leadsheet"]:
        assert (reference_run / rel).exists()
    assert not (reference_run / "work" / "stems").exists()  # stems are a cache unless kept


def test_damaged_copies_are_ranked_below_their_clean_sources(reference_run, corpus):
    truth = pd.read_parquet(corpus / "truth.parquet")
    ds = tables(reference_run)["dataset"]
    damaged = set(
        truth.loc[truth["defect"].isin(["clipping", "noise", "lowpass", "silence"]), "track_id"].astype(str)
    )
    chosen = ds[ds["selected"]]
    assert not set(chosen["track_id"]) & damaged
    mean = ds.groupby("track_id")["aesthetics"].mean()
    for row in truth[truth["defect"].isin(["clipping", "noise", "lowpass"])].itertuples():
        assert mean[str(row.track_id)] < mean[str(row.source_track_id)], row.defect


def test_rerun_is_a_no_op_and_report_is_written(reference_run, corpus):
    before = {p: p.stat().st_mtime_ns for p in (reference_run / "work").rglob("part-*.parquet")}
    run_pipeline(config(corpus, reference_run), progress=False)
    after = {p: p.stat().st_mtime_ns for p in (reference_run / "work").rglob("part-*.parquet")}
    assert before == after
    report = write_report(reference_run).read_text()
    assert "segments graded" in report and "Failures by stage" in report
    for png in ("durations", "labels", "caption_words", "aesthetics", "alignment", "score"):
        assert (reference_run / "report" / f"{png}.png").stat().st_size > 1000


# ------------------------------------------------------------------------------------------ bad input


def _bad_corpus(root: Path, good_source: Path) -> tuple[dict[str, str], list[str]]:
    """Good files and one of each kind of bad input; returns {bad relpath: expected reason} and the good."""
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(6 * SR) / SR)).astype(np.float32)
    music, _ = sf.read(good_source, dtype="float32", always_2d=True)
    music = music.T
    good = ["good a.wav", "naïve ñame/モノ.wav", "hi-rate.wav", "album/side b.aiff"]
    write_audio(root / good[0], music, SR)
    write_audio(root / good[1], music[:, ::-1].copy(), SR)
    hi = np.repeat(music, 2, axis=1)[:, : music.shape[1] * 2]  # 96 kHz is fine: it is resampled
    write_audio(root / good[2], hi, 96000)
    write_audio(root / good[3], 0.8 * music[:, ::2].repeat(2, axis=1), SR)  # AIFF, which soundfile reads
    bad: dict[str, str] = {}
    write_audio(root / "dc.wav", np.full((2, 6 * SR), 0.25, np.float32) + 1e-6 * tone, SR)
    bad["dc.wav"] = "no audible content once its DC offset (0.250) is removed"
    (root / "album" / "notes.txt").write_text("liner notes\n")
    bad["album/notes.txt"] = "unsupported format '.txt'"
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    bad[".DS_Store"] = "unsupported format '(no extension)'"
    write_audio(
        root / "full.mp3", np.stack([tone, tone]) + rng.normal(0, 0.01, (2, tone.size)).astype(np.float32), SR
    )
    data = (root / "full.mp3").read_bytes()
    (root / "full.mp3").unlink()
    (root / "truncated.mp3").write_bytes(data[: len(data) // 2])
    bad["truncated.mp3"] = "truncated"
    (root / "zero.mp3").write_bytes(b"")
    bad["zero.mp3"] = "empty file"
    (root / "text.mp3").write_text("this is not audio\n" * 50)
    bad["text.mp3"] = "not a readable audio file"
    nan = np.stack([tone, tone])
    nan[0, 1000] = np.nan
    sf.write(root / "nan.wav", nan.T, SR, subtype="FLOAT")
    bad["nan.wav"] = "NaN"
    inf = np.stack([tone, tone])
    inf[1, 500] = np.inf
    sf.write(root / "inf.wav", inf.T, SR, subtype="FLOAT")
    bad["inf.wav"] = "NaN or infinite"
    write_audio(root / "zeros.wav", np.zeros((2, 6 * SR), np.float32), SR)
    bad["zeros.wav"] = "silent"
    sf.write(root / "one_sample.wav", np.array([[0.5, 0.5]], np.float32), SR)
    bad["one_sample.wav"] = "shorter than"
    write_audio(root / "phone.wav", tone[None, ::5].copy(), 8820)
    write_audio(root / "lo8k.wav", tone[None, : 6 * 8000].copy(), 8000)
    bad["phone.wav"] = bad["lo8k.wav"] = "below the minimum"
    write_audio(root / "surround.wav", np.tile(tone, (6, 1)), SR)
    bad["surround.wav"] = "6 channels"
    with sf.SoundFile(root / "long.flac", "w", SR, 1, subtype="PCM_16") as f:  # 30 minutes, near-silent
        block = np.zeros(SR * 60, np.float32)
        block[::SR] = 0.01
        for _ in range(30):
            f.write(block)
    bad["long.flac"] = "longer than the maximum"
    os.symlink(root / "good a.wav", root / "good c (link).wav")  # duplicates lose to the first path
    bad["good c (link).wav"] = "exact duplicate of good a.wav"
    (root / "good b (copy).wav").write_bytes((root / "good a.wav").read_bytes())
    bad["good b (copy).wav"] = "exact duplicate of good a.wav"
    os.symlink(root / "does-not-exist.wav", root / "dangling.wav")
    bad["dangling.wav"] = "broken symbolic link"
    os.mkfifo(root / "pipe.wav")  # a named pipe: reading it would block, so it must never be opened
    bad["pipe.wav"] = "not a regular file"
    (root / "folder.mp3").mkdir()
    bad["folder.mp3"] = "is a directory"
    (root / "noise.wav").write_bytes(b"RIFF" + rng.integers(0, 255, 4000, dtype=np.uint8).tobytes())
    bad["noise.wav"] = "not a readable audio file"
    return bad, good


def test_every_bad_input_is_a_failure_with_its_reason_and_good_items_go_through(tmp_path, corpus):
    source = sorted((corpus).glob("0*/*.wav"))[0]
    root = tmp_path / "in"
    root.mkdir()
    bad, good = _bad_corpus(root, source)
    assert len(bad) >= 15
    out = tmp_path / "out"
    limits = {"min_seconds": 2.0, "max_seconds": 1200.0}  # long.flac is 30 minutes
    run_pipeline(config(root, out, input={"root": str(root), **limits}), progress=False)
    failures = pd.read_parquet(out / "failures.parquet")
    by_item = dict(zip(failures["item"], failures["reason"], strict=True))
    for rel, reason in bad.items():
        assert rel in by_item, f"{rel} not reported"
        assert reason.lower() in by_item[rel].lower(), (rel, by_item[rel])
        assert failures.loc[failures["item"] == rel, "stage"].item() == "ingest"
    ds = pd.read_parquet(out / "dataset.parquet")
    assert set(ds["track_id"]) == set(good)


def test_every_file_is_accounted_for_and_the_summary_adds_up(tmp_path, corpus, capsys):
    from s2acc.cli import main

    source = sorted((corpus).glob("0*/*.wav"))[0]
    root = tmp_path / "in"
    root.mkdir()
    bad, good = _bad_corpus(root, source)
    shutil.copytree(corpus, root / "synth")  # a synthesised corpus inside: its truth files are metadata
    tracks = sorted(p.relative_to(root).as_posix() for p in (root / "synth").glob("*/*.wav"))
    out = tmp_path / "out"
    demo = str(Path(__file__).resolve().parents[1] / "configs/data/demo.yaml")
    args = ["data", "run", "--config", demo, "--quiet", "--stages", "ingest", "input.tags_table=",
            "input.reference_captions=", "input.min_seconds=2", "input.max_seconds=1200",
            f"out={out}", f"input.root={root}"]  # fmt: skip
    assert main(args) == 0
    summary = capsys.readouterr().out
    seen = sum(1 for p in root.rglob("*") if p.is_file() or p.is_symlink() or p.suffix in (".mp3", ".wav"))
    metadata = 3 + len(list((root / "synth" / "truth").glob("*.json")))
    refused = len(bad) + 1  # the synth corpus's first track is the source of good a.wav: a duplicate
    ingested = len(good) + len(tracks) - 1
    assert (
        f"{seen} files under input.root: {ingested} tracks ingested, {refused} refused at ingest" in summary
    )
    assert f"{metadata} metadata" in summary and seen == ingested + refused + metadata

    # the MTG-Jamendo layout refuses every other name, saying which pattern it expected
    strict = tmp_path / "strict"
    assert main([*args[:-2], f"out={strict}", f"input.root={root / 'synth'}", "input.layout=jamendo"]) == 0
    assert main([*args[:-2], f"out={tmp_path / 'mixed'}", f"input.root={root}", "input.layout=jamendo"]) == 0
    failures = pd.read_parquet(tmp_path / "mixed" / "failures.parquet")
    refused = failures.set_index("item")["reason"]
    for name in good:
        assert "outside the MTG-Jamendo layout: expected NN/<track id>_instrumental.<ext>" in refused[name]
    assert len(pd.read_parquet(strict / "ingest.parquet")) == len(tracks)


# ------------------------------------------------------------------------------- kill, resume, processes


def _cli(cfg_path: Path, out: Path, *extra: str, launcher: tuple[str, ...] = (sys.executable,)) -> list[str]:
    return [
        *launcher,
        "-m",
        "s2acc",
        "data",
        "run",
        "--config",
        str(cfg_path),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _write_cfg(corpus: Path, path: Path) -> Path:
    path.write_text(
        "kind: data\n"
        f"input: {{root: '{corpus}', tags_table: '{corpus / 'truth.parquet'}',\n"
        f"        reference_captions: '{corpus / 'captions.json'}'}}\n"
        "flush_every: 1\n"
        "leadsheet: {backend: librosa}\n"
        "segment: {min_seconds: 4.0, max_seconds: 10.0}\n"
        "select: {fraction: 0.3, val_fraction: 0.3}\n"
    )
    return path


@pytest.mark.slow
def test_a_run_killed_at_random_points_resumes_to_the_same_tables(reference_run, corpus, tmp_path):
    cfg_path = _write_cfg(corpus, tmp_path / "cfg.yaml")
    out = tmp_path / "killed"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    rng = np.random.default_rng(3)
    for _ in range(2):  # two kills at random moments, then a run to completion
        proc = subprocess.Popen(_cli(cfg_path, out), env=env, start_new_session=True)
        time.sleep(float(rng.uniform(4.0, 12.0)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(_cli(cfg_path, out), env=env, check=True)
    assert_same_tables(reference_run, out)


@pytest.mark.slow
def test_two_processes_under_accelerate_give_the_same_tables(reference_run, corpus, tmp_path):
    cfg_path = _write_cfg(corpus, tmp_path / "cfg.yaml")
    out = tmp_path / "ddp"
    cmd = _cli(cfg_path, out, launcher=tuple(accelerate_launch(2)))
    subprocess.run(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1"), check=True, timeout=600)
    parts = list((out / "work").glob("separate-*/rows/part-*.parquet"))
    assert {p.name.split("-")[1] for p in parts} == {"000", "001"}  # both processes did work
    assert_same_tables(reference_run, out)


# ---------------------------------------------------------------------------------------- small units


def test_selection_respects_fraction_cap_vocals_and_track_splits():
    n = 40
    graded = pd.DataFrame(
        {
            "segment_id": [f"t{i // 4}:{i % 4:03d}" for i in range(n)],
            "track_id": [f"t{i // 4}" for i in range(n)],
            "aesthetics": np.linspace(0, 1, n),
            "alignment": np.linspace(0, 1, n),
        }
    )
    cfg = from_dict(DataConfig, {"select": {"fraction": 0.25, "max_per_track": 2}}).select
    ds = select(graded, cfg, {"aesthetics": 0.5, "alignment": 0.5}, vocal_tracks={"t9"})
    chosen = ds[ds["selected"]]
    assert len(chosen) == 10 and chosen.groupby("track_id").size().max() <= 2
    assert "t9" not in set(chosen["track_id"])
    per_track = chosen.groupby("track_id").size()
    for row in ds[~ds["selected"]].itertuples():  # a skipped segment was capped, vocal, or ranked lower
        if row.track_id != "t9" and per_track.get(row.track_id, 0) < 2:
            assert row.rank > chosen["rank"].max()
    assert split_of("t1", 0, 0.5) == split_of("t1", 0, 0.5)
    assert {split_of(f"t{i}", 0, 0.3) for i in range(50)} == {"train", "val"}


def test_mtg_tsv_tags_are_read_by_numeric_track_id(tmp_path):
    tsv = tmp_path / "tags.tsv"
    tsv.write_text(
        "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
        "track_1085700\tartist_1\talbum_1\t00/1085700.mp3\t212.0\tgenre---rock\tinstrument---guitar\tmood/theme---happy\n"
    )
    assert read_mtg_tsv(tsv) == {"1085700": {"genre": ["rock"], "instrument": ["guitar"], "mood": ["happy"]}}
    (tmp_path / "bad.tsv").write_text("nope\n")
    with pytest.raises(ConfigError, match="TRACK_ID"):
        read_mtg_tsv(tmp_path / "bad.tsv")


def test_unknown_stage_and_bad_values_are_refused():
    with pytest.raises(ConfigError, match="unknown stages"):
        from_dict(DataConfig, {"stages": ["ingest", "mix"]})
    with pytest.raises(ConfigError, match="fraction"):
        from_dict(DataConfig, {"select": {"fraction": 0.0}})
