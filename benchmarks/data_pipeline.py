"""Dataset-pipeline throughput and memory with the offline backends (configs/data/demo.yaml's choices).

For each corpus (the embedded corpus at several sizes, and real instrumental music from Debian's
``singularity-music`` / ``planetblupi-music-ogg`` packages when installed) and each process count, the
whole job runs in a fresh subprocess; the figures are audio seconds per wall second per stage and in
total, and the peak resident memory of the largest process. The peer, timed in the same run, is the
decode floor: reading every file of the corpus once, which every stage must do at least.

Long recordings: one stereo file of 10 and of 60 minutes (the synthesised tracks end to end), run
whole (``input.window_seconds`` past its length) and in the default windows, one process; the figure
is the peak resident memory (target <= 1.5 GiB for 60 minutes), against the whole-file path's.

    python benchmarks/data_pipeline.py [--tracks 50 200] [--seconds 30] [--processes 1 2] [--out FILE]
    python benchmarks/data_pipeline.py --only-long [--long-minutes 10 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

# Run as a script, Python puts benchmarks/ first on the path, where data_pipeline.py would shadow the
# data_pipeline package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402

HERE = Path(__file__).resolve().parent
WORK = HERE / "out" / "data_pipeline"
DEBIAN_PACKAGES = ("singularity-music", "planetblupi-music-ogg")

MEASURE = (
    "import resource, subprocess, sys, json;"
    "rc = subprocess.run(sys.argv[1:]).returncode;"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
    "print(json.dumps({'rc': rc, 'peak_rss_mib': peak}))"
)


def synth_corpus(n: int, seconds: float) -> Path:
    root = WORK / f"synth-{n}x{seconds:g}"
    if not (root / "truth.parquet").exists():
        from s2acc.synth.corpus import SynthConfig, generate_corpus

        generate_corpus(
            SynthConfig(seed=0, n_tracks=n, min_seconds=seconds, max_seconds=seconds, format="mp3"),
            root,
            progress=True,
        )
    return root


def debian_corpus() -> Path | None:
    files = []
    for package in DEBIAN_PACKAGES:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        files += [Path(p) for p in listing.stdout.splitlines() if p.endswith(".ogg")]
    if not files:
        return None
    root = WORK / "debian-music"
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = root / f"{f.parent.name}-{f.name}"
        if not link.exists():
            link.symlink_to(f)
    return root


def decode_floor(root: Path) -> tuple[float, float]:
    """Seconds to decode every file once, and the audio seconds decoded."""
    from s2acc.audio import read_audio

    start, audio_seconds = time.perf_counter(), 0.0
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".mp3", ".ogg", ".wav")):
        audio, sr = read_audio(path)
        audio_seconds += audio.shape[1] / sr
    return time.perf_counter() - start, audio_seconds


def long_recording(minutes: float, source: Path) -> Path:
    """A folder holding one stereo FLAC of ``minutes``: the source corpus's tracks end to end, repeated,
    written a track at a time."""
    import soundfile as sf

    from data_pipeline.tracks import load_track

    root = WORK / f"long-{minutes:g}min"
    path = root / "recording.flac"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        total, written = int(minutes * 60 * 44100), 0
        files = sorted(source.glob("*/*.mp3"))
        with sf.SoundFile(str(path) + ".tmp", "w", 44100, 2, format="FLAC", subtype="PCM_16") as f:
            while written < total:
                for file in files:
                    audio = load_track(file, 44100)[:, : total - written]
                    f.write(audio.T)
                    written += audio.shape[1]
                    if written >= total:
                        break
        Path(str(path) + ".tmp").rename(path)
    return root


def run_pipeline(root: Path, processes: int, tags: bool, window: float | None = None) -> dict:
    name = f"{root.name}-p{processes}" + ("" if window is None else f"-w{window:g}")
    out = WORK / f"run-{name}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = yaml.safe_load((HERE.parent / "configs" / "data" / "demo.yaml").read_text())
    cfg["out"] = str(out)
    cfg["input"] = {"root": str(root), "tags_table": str(root / "truth.parquet") if tags else ""}
    if window is not None:
        cfg["input"]["window_seconds"] = window
    cfg_path = WORK / f"cfg-{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    cli = ["-m", "s2acc", "data", "run", "--config", str(cfg_path), "--quiet"]
    if processes == 1:
        cmd = [sys.executable, *cli]
    else:
        accelerate = str(Path(sys.executable).with_name("accelerate"))
        cmd = [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            *cli,
        ]
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // processes))
    )
    start = time.perf_counter()
    measured = subprocess.run([sys.executable, "-c", MEASURE, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    result = json.loads(measured.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"pipeline failed on {root}: {measured.stderr[-2000:]}")
    import pandas as pd

    audio_seconds = float(pd.read_parquet(out / "ingest.parquet")["duration"].sum())
    timings = json.loads((out / "timings.json").read_text())
    stages = {
        stage: {**t, "x_realtime": round(audio_seconds / t["wall_seconds"], 1) if t["wall_seconds"] else None}
        for stage, t in timings.items()
    }
    stage_wall = sum(t["wall_seconds"] for t in timings.values())
    return {
        "corpus": root.name,
        "processes": processes,
        "tracks": int(len(pd.read_parquet(out / "ingest.parquet"))),
        "audio_hours": round(audio_seconds / 3600, 3),
        "wall_seconds": round(wall, 1),
        "stage_wall_seconds": round(stage_wall, 1),
        "x_realtime": round(audio_seconds / wall, 1),
        "x_realtime_stages": round(audio_seconds / stage_wall, 1),
        "peak_rss_mib": round(result["peak_rss_mib"], 1),
        "failures": int(len(pd.read_parquet(out / "failures.parquet"))),
        "stages": stages,
    }


def long_recordings(minutes: list[float], source: Path) -> dict:
    """Peak memory on one long file, windowed (the default) and, where it fits, whole."""
    from data_pipeline.config import InputConfig

    window = InputConfig().window_seconds
    runs = []
    for m in minutes:
        root = long_recording(m, source)
        for label, w in (("windowed", window), ("whole", m * 60 + 60)):
            if label == "whole" and m > 20:  # the whole-file path needs about 0.3 GiB a minute
                continue
            run = {k: v for k, v in run_pipeline(root, 1, False, w).items() if k != "stages"}
            runs.append({"minutes": m, "path": label, "window_seconds": w, **run})
            print(json.dumps(runs[-1]))
    return {
        "target_peak_rss_mib_60min": 1536,
        "default_window_seconds": window,
        "runs": runs,
        **metadata(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-real", action="store_true", help="skip the Debian music corpus")
    parser.add_argument("--long-minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--only-long", action="store_true", help="measure only the long recordings")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "data_pipeline.json")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    long_runs = long_recordings(args.long_minutes, synth_corpus(min(args.tracks), args.seconds))
    if args.only_long:  # merged into the results: a length measured again replaces its old runs
        result = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "data_pipeline"}
        kept = [
            r
            for r in result.get("long_recordings", {}).get("runs", [])
            if r["minutes"] not in args.long_minutes
        ]
        long_runs["runs"] = sorted(kept + long_runs["runs"], key=lambda r: (r["minutes"], r["path"]))
        result["long_recordings"] = long_runs
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
        return

    corpora = [(synth_corpus(n, args.seconds), True) for n in args.tracks]
    real = None if args.no_real else debian_corpus()
    if real:
        corpora.append((real, False))
    runs, floors = [], {}
    for root, tags in corpora:
        floor, audio_seconds = decode_floor(root)
        floors[root.name] = {"decode_seconds": round(floor, 2), "x_realtime": round(audio_seconds / floor, 1)}
        for p in args.processes:
            run = run_pipeline(root, p, tags)
            run["ratio_to_decode_floor"] = round(run["wall_seconds"] / floor, 1)
            runs.append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "stages"}))
    synth_runs = {r["tracks"]: r for r in runs if r["corpus"].startswith("synth") and r["processes"] == 1}
    sizes = sorted(synth_runs)
    memory = None
    if len(sizes) >= 2:
        small, large = synth_runs[sizes[0]], synth_runs[sizes[-1]]
        memory = {
            "tracks": [sizes[0], sizes[-1]],
            "peak_rss_mib": [small["peak_rss_mib"], large["peak_rss_mib"]],
            "growth": round(large["peak_rss_mib"] / small["peak_rss_mib"] - 1, 3),
        }
    result = {
        "benchmark": "data_pipeline",
        "backends": "offline (configs/data/demo.yaml: hpss, leadsheet auto, spectral, features, dsp-quality, "
        "caption-consistency)",
        **metadata(),
        "target_x_realtime": 20,
        "peer": {"decode_floor": floors},
        "memory_vs_corpus_size": memory,
        "runs": runs,
        "long_recordings": long_runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
