"""The ablation's ceiling: how far the tiny VAE's encoder gets when chords are all it is trained for.

The distillation ablation (``benchmarks/vae_distill.py``) asks the encoder to carry chords *beside*
reconstruction. This script removes the competition: the tiny encoder (random initialisation, as in the
ablation) and the predict head are trained on the lead-sheet cross-entropies alone (chord, pitch class,
beat; no decoder, no STFT or KL term), which is the most any distillation weight could ask of it. Every
``--eval-every`` steps it fits the same linear probes as ``s2acc vae eval`` on the frozen latent means
(train split's 5 s centre crops, scored on the val split).

Two references put the probe figures on a scale, on the same frames and with the same probe: the
majority-class floor, and a 12-bin chroma CQT of the same audio (librosa), which is what a latent that
carried the harmony of the mix could give a linear probe.

    python benchmarks/vae_encoder_capacity.py [--steps 1200] [--lr 3e-4] [--eval-every 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks._meta import metadata  # noqa: E402
from s2acc.vae.data import CropDataset, clips_from_dataset  # noqa: E402
from s2acc.vae.distill import LeadSheetHead, prediction_loss  # noqa: E402
from s2acc.vae.evaluate import latent_probes, probe  # noqa: E402
from s2acc.vae.oobleck import HOP, SAMPLE_RATE, build_vae  # noqa: E402
from s2acc.vae.train import collate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def chroma_reference(train: CropDataset, test: CropDataset) -> dict[str, float]:
    """The chord probe fitted on a chroma CQT of the very frames the latent probes see."""
    import librosa

    def frames(dataset: CropDataset) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for i in range(len(dataset)):
            item = dataset[i]
            mono = item["audio"].mean(0).numpy()
            chroma = librosa.feature.chroma_cqt(y=mono, sr=SAMPLE_RATE, hop_length=HOP)
            n = min(chroma.shape[1], len(item["chord"]))
            mask = item["mask"][:n].numpy()
            xs.append(chroma[:, :n].T[mask])
            ys.append(item["chord"][:n].numpy()[mask])
        return torch.from_numpy(np.concatenate(xs)).float(), torch.from_numpy(np.concatenate(ys))

    x_train, y_train = frames(train)
    x_test, y_test = frames(test)
    return probe(x_train, y_train, x_test, y_test, 25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "runs/demo/dataset")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-seconds", type=float, default=1.0)
    parser.add_argument("--eval-every", type=int, default=300)
    parser.add_argument("--probe-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/vae_encoder_capacity.json")
    args = parser.parse_args()
    if not (args.dataset / "dataset.parquet").exists():
        subprocess.run(["make", "demo", f"DEMO_DIR={args.dataset.parent}"], cwd=ROOT, check=True)

    probe_train = CropDataset(clips_from_dataset(args.dataset, "train"), args.probe_seconds, random=False)
    probe_test = CropDataset(clips_from_dataset(args.dataset, "val"), args.probe_seconds, random=False)
    crops = CropDataset(clips_from_dataset(args.dataset, "train"), args.crop_seconds, args.seed)

    vae = build_vae("tiny", args.seed)
    latent_dim = vae.config.decoder_input_channels
    torch.manual_seed(args.seed)
    head = LeadSheetHead(latent_dim)
    params = [*vae.encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(params, lr=args.lr)

    def probe_latents(step: int) -> dict:
        vae.eval()
        scores = {"step": step, **latent_probes(vae, probe_train, probe_test)}
        vae.train()
        print(json.dumps(scores), flush=True)
        return scores

    curve, probes, losses, hits = [], [probe_latents(0)], [], []
    step, epoch, start = 0, 0, time.perf_counter()
    vae.train()
    while step < args.steps:
        crops.set_epoch(epoch)
        loader = DataLoader(
            crops,
            batch_size=args.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(args.seed * 1000 + epoch),
        )
        epoch += 1
        for batch in loader:
            z = vae.encode(batch["audio"]).latent_dist.mean
            logits = head(z)
            loss = prediction_loss(logits, batch)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            step += 1
            losses.append(loss.item())
            hits.append(float((logits["chord"].argmax(1) == batch["chord"]).float().mean()))
            if step % 50 == 0:
                curve.append(
                    {
                        "step": step,
                        "seconds": round(time.perf_counter() - start, 1),
                        "loss": round(float(np.mean(losses[-50:])), 4),
                        "train_chord_accuracy": round(float(np.mean(hits[-50:])), 4),
                    }
                )
                print(json.dumps(curve[-1]), flush=True)
            if step % args.eval_every == 0 or step == args.steps:
                probes.append(probe_latents(step))
            if step == args.steps:
                break

    result = {
        **metadata(),
        "setup": {
            "dataset": str(
                args.dataset.relative_to(ROOT) if args.dataset.is_relative_to(ROOT) else args.dataset
            ),
            "model": "tiny AutoencoderOobleck encoder, random init, + LeadSheetHead",
            "objective": "chord + pitch-class + beat cross-entropy only",
            "steps": args.steps,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "crop_seconds": args.crop_seconds,
            "seed": args.seed,
            "probe_clip_seconds": args.probe_seconds,
            "threads": torch.get_num_threads(),
        },
        "train_seconds": round(time.perf_counter() - start, 1),
        "curve": curve,
        "probes": probes,
        "chroma_reference_chord_probe": chroma_reference(probe_train, probe_test),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("train_seconds", "chroma_reference_chord_probe")}))


if __name__ == "__main__":
    main()
