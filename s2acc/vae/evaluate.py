"""``s2acc vae eval``: how well a VAE reconstructs held-out clips and what its latents carry.

- Reconstruction, on centre crops of the held-out split: multi-resolution STFT distance (the training
  loss, mid/side), SI-SDR and mel L1, each averaged over clips.
- Frame-rate harmonics: the share of a signal's 40 Hz - 4 kHz energy that lies on the harmonics of the
  latent frame rate (sample rate / hop). A decoder that renders every latent frame with the same
  waveform buzzes on exactly those harmonics, which a pitch or chord reader then hears as notes; music
  puts about the share of the band those bins cover there.
- Latent probes: per-frame linear classifiers (multinomial logistic regression on standardised
  latent means, fitted with L-BFGS) trained on the frozen latents of the training split and scored on
  the held-out split, for chord class (25), melody pitch class (13 with "unvoiced") and beat presence.
  Each reports accuracy, balanced accuracy (mean per-class recall, which a majority guess cannot
  inflate: beats are one frame in ten) and the majority-class accuracy as the floor.

Clips go through one at a time by default: at 44.1 kHz the encoder's first layers hold tensors of
channels x samples, and on a CPU a batch of long clips costs more in memory traffic than it saves.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from s2acc.vae.data import CropDataset
from s2acc.vae.losses import mel_l1, mrstft_loss, si_sdr
from s2acc.vae.oobleck import decode, encode

PROBES = {"chord": 25, "pitch_class": 13, "beat": 2}


def distances(recon: torch.Tensor, audio: torch.Tensor) -> dict[str, float]:
    """How far one reconstruction (1, channels, samples) is from its original."""
    return {
        "mrstft": float(mrstft_loss(recon, audio)),
        "si_sdr": float(si_sdr(recon, audio).mean()),
        "mel_l1": float(mel_l1(recon, audio)),
    }


@torch.no_grad()
def reconstruct(vae, audio: torch.Tensor) -> torch.Tensor:
    """Encode and decode (batch, channels, samples), cut back to the input's length."""
    return decode(vae, encode(vae, audio))[..., : audio.shape[-1]]


def frame_harmonic_share(
    audio: np.ndarray, sample_rate: int, hop: int, band: tuple[float, float] = (40.0, 4000.0)
) -> float:
    """Share of the energy of ``audio`` (channels, samples), mixed to mono, within ``band`` that lies
    within four spectral bins of a multiple of ``sample_rate / hop``."""
    mono = np.asarray(audio, dtype=np.float64).reshape(-1, np.shape(audio)[-1]).mean(0)
    if mono.size < 4 * hop:
        raise ValueError(f"frame_harmonic_share needs at least {4 * hop} samples, got {mono.size}")
    power = np.abs(np.fft.rfft(mono * np.hanning(mono.size))) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1.0 / sample_rate)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    rate = sample_rate / hop
    offset = np.abs(freqs - rate * np.round(freqs / rate))
    on_harmonic = inside & (offset <= 4 * sample_rate / mono.size)
    total = power[inside].sum()
    return float(power[on_harmonic].sum() / total) if total > 0 else 0.0


@torch.no_grad()
def reconstruction_metrics(vae, dataset: CropDataset, batch_size: int = 1) -> dict[str, float]:
    totals = {"mrstft": 0.0, "si_sdr": 0.0, "mel_l1": 0.0}
    for lo in range(0, len(dataset), batch_size):
        audio = torch.stack([dataset[i]["audio"] for i in range(lo, min(lo + batch_size, len(dataset)))])
        recon = reconstruct(vae, audio)
        for i in range(len(audio)):
            for k, v in distances(recon[i : i + 1], audio[i : i + 1]).items():
                totals[k] += v
    return {k: round(v / len(dataset), 5) for k, v in totals.items()}


@torch.no_grad()
def latent_frames(
    vae, dataset: CropDataset, batch_size: int = 4
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Latent means of every valid frame (frames, dim) and the matching targets (frames,)."""
    latents, targets = [], {k: [] for k in PROBES}
    for lo in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(lo, min(lo + batch_size, len(dataset)))]
        if "chord" not in items[0]:
            raise ValueError(f"clip {dataset.clips[lo].clip_id} has no lead sheet: the probes need one")
        z = encode(vae, torch.stack([it["audio"] for it in items]))
        for item, zi in zip(items, z, strict=True):
            mask = item["mask"][: zi.shape[-1]]
            latents.append(zi.T[mask])
            for k in PROBES:
                targets[k].append(item[k][: zi.shape[-1]][mask])
    return torch.cat(latents).float(), {k: torch.cat(v) for k, v in targets.items()}


def fit_linear_probe(
    x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float = 1e-3, iterations: int = 200
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weight, bias, feature mean, feature std) of a multinomial logistic regression."""
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    xs = (x - mean) / std
    weight = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = F.cross_entropy(xs @ weight + bias, y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return weight.detach(), bias.detach(), mean, std


def probe_scores(pred: torch.Tensor, y: torch.Tensor, train_y: torch.Tensor) -> dict[str, float]:
    classes = torch.unique(y)
    recalls = [float((pred[y == c] == c).float().mean()) for c in classes]
    majority = int(torch.mode(train_y).values)
    return {
        "accuracy": round(float((pred == y).float().mean()), 4),
        "balanced_accuracy": round(float(np.mean(recalls)), 4),
        "majority_accuracy": round(float((y == majority).float().mean()), 4),
    }


def probe(
    x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, n_classes: int
) -> dict[str, float]:
    """A linear probe fitted on (x_train, y_train) and scored on (x_test, y_test)."""
    weight, bias, mean, std = fit_linear_probe(x_train, y_train, n_classes)
    pred = (((x_test - mean) / std) @ weight + bias).argmax(1)
    return probe_scores(pred, y_test, y_train)


def latent_probes(vae, train: CropDataset, test: CropDataset) -> dict[str, dict[str, float]]:
    """Probe accuracies: classifiers fitted on ``train``'s frames, scored on ``test``'s."""
    x_train, y_train = latent_frames(vae, train)
    x_test, y_test = latent_frames(vae, test)
    scores = {}
    for name, n_classes in PROBES.items():
        scores[name] = probe(x_train, y_train[name], x_test, y_test[name], n_classes)
    scores["frames"] = {"train": int(len(x_train)), "test": int(len(x_test))}
    return scores


def evaluate_vae(vae, train: CropDataset, test: CropDataset) -> dict:
    vae = vae.eval()
    return {"reconstruction": reconstruction_metrics(vae, test), "probes": latent_probes(vae, train, test)}
