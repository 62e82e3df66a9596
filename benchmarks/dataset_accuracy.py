"""What the offline dataset job gets right, against the embedded corpus's ground truth.

One full run of the dataset job (configs/data/demo.yaml's backends) on a corpus with a share of
damaged copies (clipping, noise, low-pass, dropouts, and intact audio paired with another track's
caption), then:

- grading: the share of the selected top fraction that comes from undamaged tracks (target >= 95%
  with ``--defects 0.3``), and the selected share per defect kind;
- offline captions: per track, whether the caption's stated tempo is within 5% of the composed tempo
  and its key and mode are the composed key (target: both on >= 80% of tracks);
- clip fitting: every selected clip within the configured length range.

    python benchmarks/dataset_accuracy.py [--tracks 30] [--defects 0.3] [--seconds 30 90]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

# Run as a script, Python puts benchmarks/ first on the path, where data_pipeline.py would shadow the
# data_pipeline package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from data_pipeline.config import DataConfig, synth_corpus_inputs  # noqa: E402
from data_pipeline.consistency import claims  # noqa: E402
from data_pipeline.pipeline import run_pipeline  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS = {"selected_undamaged": 0.95, "caption_tempo_and_key": 0.8}


def caption_scores(captions: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per track: tempo within 5% and key correct, as stated in its first segment's caption."""
    first = captions.sort_values("segment_id").groupby("track_id").first()
    rows = []
    for track_id, row in first.iterrows():
        t = truth.loc[int(track_id)]
        stated = {c.kind: c.stated for c in claims(row["caption"], {})}
        tempo_ok = "tempo" in stated and abs(stated["tempo"] - t["tempo"]) <= 0.05 * t["tempo"]
        key_ok = stated.get("key") == t["key"]
        rows.append(
            {"track_id": track_id, "tempo_ok": tempo_ok, "key_ok": key_ok, "both": tempo_ok and key_ok}
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=30)
    parser.add_argument("--defects", type=float, default=0.3)
    parser.add_argument("--seconds", type=float, nargs=2, default=[30.0, 90.0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", default="configs/data/demo.yaml")
    parser.add_argument("--work", type=Path, default=HERE / "out" / "dataset_accuracy")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dataset_accuracy.json")
    args = parser.parse_args()

    corpus, out = args.work / "corpus", args.work / "dataset"
    synth = SynthConfig(
        seed=args.seed,
        n_tracks=args.tracks,
        min_seconds=args.seconds[0],
        max_seconds=args.seconds[1],
        format="mp3",
        defects=args.defects,
    )
    if corpus.exists():
        shutil.rmtree(corpus)
    if out.exists():
        shutil.rmtree(out)
    truth = generate_corpus(synth, corpus, progress=False).set_index("track_id")
    cfg = load_config(
        DataConfig,
        args.config,
        [
            f"out={out}",
            *synth_corpus_inputs(corpus),
        ],
    )
    run_pipeline(cfg, progress=True)

    dataset = pd.read_parquet(out / "dataset.parquet")
    dataset["defect"] = [truth.loc[int(t), "defect"] or "none" for t in dataset["track_id"]]
    chosen = dataset[dataset["selected"]]
    undamaged = float((chosen["defect"] == "none").mean())
    by_defect = {
        kind: {"segments": int(len(g)), "selected_share": round(float(g["selected"].mean()), 4)}
        for kind, g in dataset.groupby("defect")
    }
    caps = caption_scores(pd.read_parquet(out / "caption.parquet"), truth)
    clean = caps[[truth.loc[int(t), "defect"] in ("", None) for t in caps["track_id"]]]
    in_range = bool(
        (
            (chosen["duration"] >= cfg.segment.min_seconds - 1e-3)
            & (chosen["duration"] <= cfg.segment.max_seconds + 1e-3)
        ).all()
    )
    failures = pd.read_parquet(out / "failures.parquet")
    result = {
        **metadata(),
        "corpus": {
            "seed": args.seed,
            "tracks": args.tracks,
            "defects": args.defects,
            "seconds": args.seconds,
            "format": "mp3",
            "files": int(len(truth)),
        },
        "config": args.config,
        "targets": TARGETS,
        "grading": {
            "segments": int(len(dataset)),
            "selected": int(len(chosen)),
            "selected_undamaged": round(undamaged, 4),
            "by_defect": by_defect,
        },
        "captions": {
            "tracks": int(len(clean)),
            "tempo_within_5pct": round(float(clean["tempo_ok"].mean()), 4),
            "key_correct": round(float(clean["key_ok"].mean()), 4),
            "tempo_and_key": round(float(clean["both"].mean()), 4),
        },
        "selected_clips_in_range": in_range,
        "failed_items": int(len(failures)),
    }
    result["targets_met"] = {
        "selected_undamaged": undamaged >= TARGETS["selected_undamaged"],
        "caption_tempo_and_key": result["captions"]["tempo_and_key"] >= TARGETS["caption_tempo_and_key"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("grading", "captions", "targets_met")}, indent=2))


if __name__ == "__main__":
    main()
