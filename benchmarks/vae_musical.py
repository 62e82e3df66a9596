"""VAE reconstructions judged musically, on held-out tracks: does the lead-sheet extractor hear the same
music in a reconstruction as in the original?

Each held-out track (``configs/synth/heldout.yaml``: a corpus seed no training run uses) is encoded and
decoded by every VAE named; the pipeline's own lead-sheet extraction (HPSS harmonic part, ``auto``
backend) runs on the original and on each reconstruction, and both are scored against the corpus's
ground truth with mir_eval, as ``benchmarks/leadsheet_accuracy.py`` scores them. The figures of merit are
the ratios reconstruction / original of beat F-measure and chord accuracy (target >= 0.9 each), with
bootstrap 95% intervals over tracks; beside them the signal distances against the original:
multi-resolution STFT (the training loss), mel L1 and SI-SDR; and the share of the 40 Hz - 4 kHz energy
on harmonics of the latent frame rate (``s2acc.vae.evaluate.frame_harmonic_share``), where a decoder that
buzzes once per latent frame puts its energy (the originals' share is given beside it). Steady sine
tones (110, 220, 440 Hz) probe why: a decoder can only play a pitch off that comb if the latents move from
frame to frame with the tone's phase, so the probe reports the share of the latents' energy that varies
over time beside the buzz share of the decoded tone.

    python benchmarks/vae_musical.py --vae small=small-vae --vae tiny=runs/pretrain/vae-tiny/export
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from benchmarks.leadsheet_accuracy import score_track  # noqa: E402
from data_pipeline.separation import HARMONIC_STEM, make_separator  # noqa: E402
from eval.intervals import bootstrap_interval, ratio_of_means  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.leadsheet import extract_leadsheet  # noqa: E402
from s2acc.rates import HOP  # noqa: E402
from s2acc.synth.corpus import SynthConfig, generate_track  # noqa: E402
from s2acc.vae import open_vae  # noqa: E402
from s2acc.vae.evaluate import distances, frame_harmonic_share, reconstruct  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MUSICAL = ("beat_f", "chord_majmin")
TARGET_RATIO = 0.9


def musical_scores(audio: np.ndarray, sr: int, truth: dict, separator) -> dict[str, float]:
    """The lead sheet heard in ``audio`` scored against the truth, and its frame-rate buzz share."""
    harmonic = separator.separate(audio, sr)[HARMONIC_STEM["hpss"]]
    scores = score_track(extract_leadsheet(audio, sr, harmonic=harmonic), truth)
    return {
        **{k: float(scores[k]) for k in (*MUSICAL, "key_correct", "tempo_within_4pct")},
        "frame_harmonic_share": frame_harmonic_share(audio, sr, HOP),
    }


TONES_HZ = (110.0, 220.0, 440.0)


def steady_tone(hz: float, sr: int, seconds: float = 4.0) -> torch.Tensor:
    """A steady stereo sine at 0.3 amplitude, (1, 2, samples): the probes' test signal."""
    t = np.arange(int(seconds * sr)) / sr
    return torch.from_numpy(np.tile(0.3 * np.sin(2 * np.pi * hz * t), (2, 1)).astype(np.float32))[None]


@torch.no_grad()
def steady_tone_probe(vae, sr: int, seconds: float = 4.0) -> dict[str, float]:
    """Means over steady stereo sines of the decoded tone's buzz share and of the latents' motion: the
    share of their energy (edge frames left out) in their variation over time, 0 for constant latents."""
    buzz, motion = [], []
    for hz in TONES_HZ:
        tone = steady_tone(hz, sr, seconds)
        z = vae.encode(tone).latent_dist.mean
        decoded = vae.decode(z).sample[0, :, : tone.shape[-1]].numpy()
        latents = z[0, :, 4:-4]  # away from the zero-padded edges
        buzz.append(frame_harmonic_share(decoded, sr, HOP))
        varying = latents - latents.mean(-1, keepdim=True)
        motion.append(float(varying.pow(2).mean() / latents.pow(2).mean().clamp(min=1e-12)))
    return {
        "tone_frame_harmonic_share": round(float(np.mean(buzz)), 4),
        "tone_latent_motion": round(float(np.mean(motion)), 4),
    }


def summarise(rows: list[dict], original: list[dict]) -> dict:
    out = {}
    for k in MUSICAL:
        pairs = np.array([[r[k], o[k]] for r, o in zip(rows, original, strict=True)])
        out[f"{k}_ratio"] = round(ratio_of_means(pairs), 4)
        out[f"{k}_ratio_interval_95"] = bootstrap_interval(pairs, ratio_of_means)
        out[k] = round(float(pairs[:, 0].mean()), 4)
    for k in ("key_correct", "tempo_within_4pct", "frame_harmonic_share", "mrstft", "mel_l1", "si_sdr"):
        values = np.array([r[k] for r in rows])
        out[k] = round(float(values.mean()), 4)
        out[f"{k}_interval_95"] = bootstrap_interval(values)
    out["meets_target"] = all(out[f"{k}_ratio"] >= TARGET_RATIO for k in MUSICAL)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--vae",
        action="append",
        required=True,
        metavar="LABEL=SPEC",
        help="a VAE to judge: an export folder, a registry name or tiny/small/full (repeatable)",
    )
    parser.add_argument("--corpus", default=str(ROOT / "configs/synth/heldout.yaml"), help="synth config")
    parser.add_argument("--tracks", type=int, default=20, help="held-out tracks to reconstruct")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/vae_musical.json"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    cfg = load_config(SynthConfig, args.corpus, [f"n_tracks={max(args.tracks, 1)}"])
    vaes = {}
    for item in args.vae:
        label, _, spec = item.partition("=")
        vaes[label] = (spec, open_vae(spec).eval())
    separator = make_separator("hpss")
    original, rows = [], {label: [] for label in vaes}
    seconds = {label: 0.0 for label in vaes}
    audio_seconds = 0.0
    for i in range(args.tracks):
        track = generate_track(cfg, i)
        audio_seconds += track.audio.shape[-1] / cfg.sample_rate
        original.append(musical_scores(track.audio, cfg.sample_rate, track.truth, separator))
        line = f"track {i}: original " + " ".join(f"{k}={original[-1][k]:.2f}" for k in MUSICAL)
        for label, (_, vae) in vaes.items():
            t0 = time.perf_counter()
            x = torch.from_numpy(track.audio)[None]
            y = reconstruct(vae, x)
            seconds[label] += time.perf_counter() - t0
            recon = y[0].numpy()
            rows[label].append(
                {**musical_scores(recon, cfg.sample_rate, track.truth, separator), **distances(y, x)}
            )
            line += f" | {label} " + " ".join(f"{k}={v:.2f}" for k, v in rows[label][-1].items())
        print(line, flush=True)
    result = {
        **metadata(),
        "corpus": {"config": args.corpus, "seed": cfg.seed, "tracks": args.tracks},
        "target_ratio": TARGET_RATIO,
        "original": {
            k: round(float(np.mean([o[k] for o in original])), 4)
            for k in (*MUSICAL, "key_correct", "tempo_within_4pct", "frame_harmonic_share")
        },
        "vaes": {
            label: {
                "spec": spec,
                "parameters": sum(p.numel() for p in vae.parameters()),
                "codec_x_realtime": round(audio_seconds / seconds[label], 2),
                **steady_tone_probe(vae, cfg.sample_rate),
                **summarise(rows[label], original),
            }
            for label, (spec, vae) in vaes.items()
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("original", "vaes")}, indent=2))


if __name__ == "__main__":
    main()
