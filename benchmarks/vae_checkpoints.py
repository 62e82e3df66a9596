"""A VAE training run followed checkpoint by checkpoint: do its latents start to move, and does the
harmony come back?

For the run's starting weights (``model.init``, as step 0) and each saved checkpoint (the live weights
in ``checkpoints/step-N/model.safetensors``, not the EMA), it measures

- the steady-tone probe of ``vae_musical.py`` (``tone_latent_motion``: the share of the latents' energy
  that varies over time on steady sines; ``tone_frame_harmonic_share``: the decoded tones' buzz);
- on a few whole held-out tracks (``configs/synth/heldout.yaml``, 20-45 s each), the reconstruction's
  frame-rate buzz share and the chord accuracy (majmin) of the lead sheet extracted from it, beside
  the original's.

Results merge into ``benchmarks/results/vae_checkpoints.json`` under the run's folder name, one entry per
step, so it can be rerun while the run trains and only measures the checkpoints it has not seen.
Cheap enough to run beside training (a few minutes per checkpoint for the small VAE).

    python benchmarks/vae_checkpoints.py runs/pretrain/vae-det --every 200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from benchmarks.vae_musical import musical_scores, steady_tone_probe  # noqa: E402
from data_pipeline.separation import make_separator  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_track  # noqa: E402
from s2acc.vae import open_vae  # noqa: E402
from s2acc.vae.evaluate import reconstruct  # noqa: E402
from s2acc.vae.train import vae_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def checkpoints(run: Path) -> dict[int, Path]:
    """Saved steps of a training run and their weights files."""
    found = {}
    for folder in sorted((run / "checkpoints").glob("step-*")):
        weights = folder / "model.safetensors"
        if weights.is_file():
            found[int(folder.name.split("-")[1])] = weights
    return found


@torch.no_grad()
def measure(vae, tracks: list, separator, sample_rate: int) -> dict:
    """The tone probe and, per track, the buzz share and chord accuracy of the reconstruction."""
    row = {**steady_tone_probe(vae, sample_rate), "tracks": []}
    for audio, truth in tracks:
        recon = reconstruct(vae, torch.from_numpy(audio)[None])[0].numpy()
        scores = musical_scores(recon, sample_rate, truth, separator)
        row["tracks"].append({k: round(scores[k], 4) for k in ("frame_harmonic_share", "chord_majmin")})
    for k in ("frame_harmonic_share", "chord_majmin"):
        row[k] = round(float(np.mean([t[k] for t in row["tracks"]])), 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a `s2acc train-vae` output folder (holding config.yaml, checkpoints/)")
    parser.add_argument("--every", type=int, default=100, help="measure steps that are multiples of this")
    parser.add_argument("--tracks", type=int, default=3, help="held-out tracks reconstructed per step")
    parser.add_argument("--corpus", default=str(ROOT / "configs/synth/heldout.yaml"), help="synth config")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/vae_checkpoints.json"))
    args = parser.parse_args()

    run = Path(args.run)
    config_file = run / "config.yaml"
    if not config_file.is_file():
        parser.error(f"{config_file} not found: {run} is not a `s2acc train-vae` output folder")
    config = yaml.safe_load(config_file.read_text())
    if config.get("kind") != "vae":
        parser.error(f"{config_file} is a {config.get('kind')!r} run, not a VAE run")
    init = config["model"]["init"]
    if args.every < 1 or args.tracks < 1:
        parser.error("--every and --tracks must be at least 1")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    measured_on = {"corpus": Path(args.corpus).name, "count": args.tracks}
    if results.get("tracks", measured_on) != measured_on:
        parser.error(f"{out} holds figures on {results['tracks']}, not {measured_on}: pass another --out")

    torch.set_num_threads(2)
    corpus = load_config(SynthConfig, args.corpus, [f"n_tracks={max(args.tracks, 1)}"])
    sr = corpus.sample_rate
    tracks = []
    for i in range(args.tracks):
        track = generate_track(corpus, i)
        tracks.append((track.audio, track.truth))
    separator = make_separator("hpss")

    entry = results["runs"].setdefault(run.name, {"steps": {}})
    entry.update(init=init, loss=config["loss"], lr=config["train"]["lr"])
    steps = entry["steps"]
    if "original" not in results:
        originals = [musical_scores(a, sr, t, separator) for a, t in tracks]
        results["original"] = {
            k: round(float(np.mean([o[k] for o in originals])), 4)
            for k in ("frame_harmonic_share", "chord_majmin")
        }
    same_start = [
        e["steps"]["0"] for e in results["runs"].values() if e.get("init") == init and "0" in e["steps"]
    ]
    if same_start and "0" not in steps:
        steps["0"] = same_start[0]  # the starting weights, measured for another run from the same init
    todo = {0: None} | {s: w for s, w in checkpoints(run).items() if s % args.every == 0}
    if all(str(step) in steps for step in todo):
        print(f"{run.name}: steps {sorted(todo)} are already measured in {out}")
    vae = open_vae(init).eval()  # step 0; each checkpoint then replaces every weight (strict)
    for step, weights in todo.items():
        if str(step) in steps:
            continue
        if weights is not None:
            vae.load_state_dict(vae_state(load_file(weights)), strict=True)
        steps[str(step)] = measure(vae, tracks, separator, sr)
        entry["steps"] = steps = dict(sorted(steps.items(), key=lambda kv: int(kv[0])))
        results.update(metadata())
        results["tracks"] = measured_on
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        row = steps[str(step)]
        print(
            f"{run.name} step {step}: tone motion {row['tone_latent_motion']:.4f} "
            f"tone buzz {row['tone_frame_harmonic_share']:.3f} | "
            f"tracks: buzz {row['frame_harmonic_share']:.3f} chords {row['chord_majmin']:.3f} "
            f"(original {results['original']['chord_majmin']:.3f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
