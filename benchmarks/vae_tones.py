r"""Can the VAE learn to play a steady pitch at all? Trained on nothing but steady tones.

The small VAE decodes held-out music onto harmonics of its latent frame rate (21.53 Hz): its latents
stand still on a steady tone, and a frame-shift-equivariant decoder fed still latents can only repeat
one waveform per 2,048 samples. This benchmark asks whether the architecture and loss can learn
otherwise when the task is reduced to its core: starting from a VAE (``--init``, default the shipped
``small-vae``), it trains on stereo clips of one to three steady sines at random semitone pitches
(MIDI 36-84, 65 Hz - 1 kHz; random phases and levels) with the training loss of ``s2acc train-vae``
(``VAETrainingModel``; overrides as ``loss.*`` arguments), and every ``--probe-every`` steps
measures, on fixed test tones of 110, 220 and 440 Hz (none of them a comb harmonic):

- ``tone_latent_motion`` and ``tone_frame_harmonic_share``, as ``vae_musical.py`` defines them;
- ``pitch_error_cents``: the mean distance of the decoded tone's strongest spectral peak from the
  tone, in cents; the comb's nearest teeth lie 37 to 47 cents away, a tone played right is within a few.

    python benchmarks/vae_tones.py --steps 400 --label stft
    python benchmarks/vae_tones.py --steps 400 --label stft-long-windows \
        "loss.fft_sizes=[8192,4096,2048,1024,512,256,128,64,32]"
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
from benchmarks.vae_musical import TONES_HZ, steady_tone, steady_tone_probe  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.rates import HOP, SAMPLE_RATE  # noqa: E402
from s2acc.vae import open_vae  # noqa: E402
from s2acc.vae.train import LossSection, VAETrainingModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def tone_batch(rng: np.random.Generator, batch: int, seconds: float) -> torch.Tensor:
    """(batch, 2, samples) of one to three steady sines each, at semitone pitches with random phases;
    whole latent frames long, as the trainer's crops are."""
    t = np.arange(max(1, round(seconds * SAMPLE_RATE / HOP)) * HOP) / SAMPLE_RATE
    clips = np.zeros((batch, 2, t.size), np.float32)
    for b in range(batch):
        for _ in range(rng.integers(1, 4)):
            hz = 440.0 * 2 ** ((rng.integers(36, 85) - 69) / 12)
            for ch in range(2):
                level, phase = rng.uniform(0.05, 0.2), rng.uniform(0, 2 * np.pi)
                clips[b, ch] += level * np.sin(2 * np.pi * hz * t + phase)
    return torch.from_numpy(clips)


@torch.no_grad()
def pitch_error_cents(vae, seconds: float = 4.0) -> float:
    """Mean distance (cents) of the decoded test tones' strongest peak from the tone."""
    errors = []
    for hz in TONES_HZ:
        tone = steady_tone(hz, SAMPLE_RATE, seconds)
        decoded = vae.decode(vae.encode(tone).latent_dist.mean).sample[0, :, : tone.shape[-1]]
        mono = decoded.mean(0).numpy()
        spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
        freqs = np.fft.rfftfreq(mono.size, 1 / SAMPLE_RATE)
        band = (freqs > hz / 2) & (freqs < hz * 1.5)  # the tone's own octave, not its harmonics
        peak = freqs[band][np.argmax(spectrum[band])]
        errors.append(abs(1200 * np.log2(peak / hz)))
    return round(float(np.mean(errors)), 1)


def probe(vae) -> dict:
    vae.eval()
    row = {**steady_tone_probe(vae, SAMPLE_RATE), "pitch_error_cents": pitch_error_cents(vae)}
    vae.train()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="loss settings, e.g. loss.waveform=5")
    parser.add_argument("--init", default="small-vae", help="the VAE trained: a registry name or export")
    parser.add_argument("--label", default="stft", help="the run's name in the results file")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--probe-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length (the pretraining crop)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/vae_tones.json"))
    args = parser.parse_args()

    base = ["stft=1.0", "kl=1e-4", "distill=0.0", "adversarial=0.0"]
    settings = base + [o.removeprefix("loss.") for o in args.overrides]
    loss_cfg = load_config(LossSection, None, settings)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = VAETrainingModel(open_vae(args.init), loss_cfg)
    optimizer = torch.optim.AdamW(model.param_groups(), lr=args.lr)
    curve = {"0": probe(model.vae)}
    print(0, curve["0"], flush=True)
    start = time.perf_counter()
    losses = []
    for step in range(1, args.steps + 1):
        loss, logs = model({"audio": tone_batch(rng, args.batch, args.seconds)})
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(logs["stft"])
        if step % args.probe_every == 0 or step == args.steps:
            curve[str(step)] = {**probe(model.vae), "stft": round(float(np.mean(losses)), 4)}
            losses = []
            print(step, curve[str(step)], flush=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    results["runs"][args.label] = {
        "init": args.init,
        "overrides": args.overrides,
        "steps": args.steps,
        "batch": args.batch,
        "seconds": args.seconds,
        "lr": args.lr,
        "seed": args.seed,
        "seconds_per_step": round((time.perf_counter() - start) / args.steps, 2),
        "curve": curve,
    }
    results.update(metadata())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
