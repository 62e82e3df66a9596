"""Embedded-corpus generation speed: 100 tracks x 30 s (configs/synth/bench.yaml).

Target: at most 60 s on a 2-core machine. Because shared machines drift, the same run also times two
peers and reports ratios:
- ``io_floor``: writing the same number of 30 s stereo WAV files of precomputed noise (no synthesis),
- ``librosa_clicks_tones``: per track, librosa's click track on the beat grid plus one tone per chord
  span, written as WAV; the simplest "music" the stack can render, with no timbres, mixing or truth.

    python benchmarks/synth.py [--config configs/synth/bench.yaml] [--workers N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

# Run as a script, Python puts benchmarks/ first on the path, where data_pipeline.py would shadow the
# data_pipeline package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from s2acc.audio import write_audio  # noqa: E402
from s2acc.config import config_hash, load_config  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_corpus  # noqa: E402


def _io_floor(args: tuple[int, int, str]) -> None:
    index, n, root = args
    noise = np.random.default_rng(index).uniform(-0.5, 0.5, (2, n)).astype(np.float32)
    write_audio(Path(root) / f"{index}.wav", noise, 44100)


def _librosa_peer(args: tuple[int, float, str]) -> None:
    import librosa

    index, seconds, root = args
    sr = 44100
    bpm = 60 + (index * 37) % 120
    beats = np.arange(0, seconds, 60.0 / bpm)
    y = librosa.clicks(times=beats, sr=sr, length=int(seconds * sr))
    bar = 4 * 60.0 / bpm
    for k, start in enumerate(np.arange(0, seconds, bar)):
        n = int(min(bar, seconds - start) * sr)
        a = int(start * sr)
        y[a : a + n] += 0.3 * librosa.tone(110.0 * 2 ** (k % 5 / 12), sr=sr, length=n)
    write_audio(Path(root) / f"{index}.wav", np.stack([y, y]) * 0.5, sr)


def _pool_time(fn, jobs: list, workers: int) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(fn, jobs))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("configs/synth/bench.yaml"))
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/synth.json"))
    parser.add_argument("--target-seconds", type=float, default=60.0)
    args = parser.parse_args()
    cfg = load_config(SynthConfig, args.config)
    seconds = cfg.max_seconds

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        table = generate_corpus(cfg, Path(tmp) / "corpus", progress=True, workers=args.workers)
        ours = time.perf_counter() - start
        audio_minutes = float(table["duration"].sum()) / 60
        n_samples = int(seconds * cfg.sample_rate)
        floor = _pool_time(_io_floor, [(i, n_samples, tmp) for i in range(cfg.n_tracks)], args.workers)
        peer = _pool_time(_librosa_peer, [(i, seconds, tmp) for i in range(cfg.n_tracks)], args.workers)

    peak_child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "benchmark": "synth",
        "config": str(args.config),
        "config_hash": config_hash(cfg),
        "tracks": cfg.n_tracks,
        "seconds_per_track": seconds,
        "workers": args.workers,
        **metadata(),
        "wall_seconds": round(ours, 2),
        "target_seconds": args.target_seconds,
        "meets_target": ours <= args.target_seconds,
        "realtime_factor": round(audio_minutes * 60 / ours, 1),
        "peak_worker_rss_mib": round(peak_child_mib, 1),
        "peers": {
            "io_floor": {"wall_seconds": round(floor, 2), "ratio": round(ours / floor, 2)},
            "librosa_clicks_tones": {"wall_seconds": round(peer, 2), "ratio": round(ours / peer, 2)},
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
