"""Structure segmentation accuracy against the embedded corpus's ground-truth sections (mir_eval).

Boundary hit rate F-measure at ±3 s and ±0.5 s (the section edges themselves, not the clip fitting),
and frame clustering pairwise F for the labels, of the offline ``spectral`` segmenter fed with the
lead-sheet stage's beats and downbeats, as in the pipeline. Target: F@3 s >= 0.7.

    python benchmarks/segmentation_accuracy.py [--tracks 20] [--min-seconds 60 --max-seconds 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mir_eval
import numpy as np

# Run as a script, Python puts benchmarks/ first on the path, where data_pipeline.py would shadow the
# data_pipeline package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from data_pipeline.segmentation import make_segmenter  # noqa: E402
from s2acc.leadsheet import extract_leadsheet  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_track  # noqa: E402

TARGET_F3 = 0.7


def intervals(sections) -> tuple[np.ndarray, list[str]]:
    return np.array([[s[0], s[1]] for s in sections], float), [s[2] for s in sections]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--min-seconds", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--leadsheet-backend", default="auto")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "segmentation_accuracy.json")
    )
    args = parser.parse_args()

    cfg = SynthConfig(
        seed=args.seed,
        n_tracks=args.tracks,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        format="wav",
    )
    segmenter = make_segmenter("spectral")
    rows, audio_seconds, wall = [], 0.0, 0.0
    for i in range(args.tracks):
        track = generate_track(cfg, i)
        sheet = extract_leadsheet(track.audio, cfg.sample_rate, backend=args.leadsheet_backend)
        t0 = time.perf_counter()
        sections = segmenter.segment(
            track.audio, cfg.sample_rate, beats=sheet.beats, downbeats=sheet.downbeats
        )
        wall += time.perf_counter() - t0
        audio_seconds += track.audio.shape[1] / cfg.sample_rate
        ref_i, ref_l = intervals([(s["start"], s["end"], s["label"]) for s in track.truth["sections"]])
        est_i, est_l = intervals([(s.start, s.end, s.label) for s in sections])
        est_i[-1, 1] = ref_i[-1, 1] = max(est_i[-1, 1], ref_i[-1, 1])
        est_i[0, 0] = ref_i[0, 0] = 0.0
        _, _, f3 = mir_eval.segment.detection(ref_i, est_i, window=3.0, trim=True)
        _, _, f05 = mir_eval.segment.detection(ref_i, est_i, window=0.5, trim=True)
        _, _, pairwise = mir_eval.segment.pairwise(ref_i, ref_l, est_i, est_l)
        rows.append({"f3": f3, "f05": f05, "pairwise_f": pairwise, "n_ref": len(ref_l), "n_est": len(est_l)})
        print(
            f"track {i}: F@3={f3:.2f} F@0.5={f05:.2f} pairwise={pairwise:.2f} "
            f"ref={' '.join(ref_l)} | est={' '.join(est_l)}"
        )
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    out = {
        **metadata(),
        "corpus": {"seed": args.seed, "tracks": args.tracks, "seconds": [args.min_seconds, args.max_seconds]},
        "segmenter": "spectral",
        "leadsheet_backend": args.leadsheet_backend,
        "target_f3": TARGET_F3,
        "mean": mean,
        "target_met": mean["f3"] >= TARGET_F3,
        "x_realtime": round(audio_seconds / wall, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("mean", "target_met", "x_realtime")}, indent=2))


if __name__ == "__main__":
    main()
