"""Evaluation speed on CPU: CLAP embedding throughput and FAD time, against a straightforward peer.

- Embedding: ``--clips`` clips of 10 s (44.1 kHz stereo) through the fadtk-compatible CLAP path
  (HTSAT-base at full size, random weights: the same arithmetic as the real checkpoint), batched
  windows, versus the peer: one file at a time, one window per model call. The two alternate clip by
  clip, so the machine's drifting speed weighs on both alike.
- FAD: statistics of the generated windows against 1,000 reference embeddings and the Fréchet
  distance, ours (symmetric eigendecomposition) versus the textbook ``scipy.linalg.sqrtm(C1 @ C2)``;
  the two values are compared too.

    python benchmarks/eval.py [--clips 100] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from tqdm import tqdm

# Run as a script, Python puts benchmarks/ first on the path, where data_pipeline.py would shadow the
# data_pipeline package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from eval.embedders import ClapEmbedder, fadtk_clap_audio  # noqa: E402
from eval.fad import frechet_distance, stats_from_embeddings  # noqa: E402
from s2acc.clap import CLAP_SR, CLAP_WINDOW, build_clap_module  # noqa: E402

SR = 44100


def random_clap():
    """HTSAT-base audio tower at full size; a one-layer text tower (unused here)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast, RobertaConfig

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>")),
        pad_token="<pad>",
    )
    config = RobertaConfig(
        vocab_size=300,
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=12,
        intermediate_size=128,
        max_position_embeddings=80,
        type_vocab_size=1,
    )
    torch.manual_seed(0)
    return build_clap_module(config, tok)


def peer_embed(model, clip: np.ndarray) -> np.ndarray:
    """The straightforward computation: the same preprocessing, one window per model call."""
    x = fadtk_clap_audio(clip, SR)
    out = []
    for start in range(0, len(x), CLAP_SR):
        window = np.zeros(CLAP_WINDOW, np.float32)
        piece = x[start : start + CLAP_WINDOW]
        window[: len(piece)] = piece
        with torch.no_grad():
            out.append(model.get_audio_embedding_from_data(window[None], use_tensor=False)[0])
    return np.asarray(out)


def textbook_fd(mu1, c1, mu2, c2) -> float:
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    d = mu1 - mu2
    return float(d @ d + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reference", type=int, default=1000, help="reference embeddings")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval.json")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    clips = [
        (
            0.2 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal((2, len(t)))
        ).astype(np.float32)
        for _ in range(args.clips)
    ]
    model = random_clap()
    embedder = ClapEmbedder(model_obj=model, batch_size=args.batch)
    embedder.embed(clips[0], SR)  # warm-up
    # Clip by clip, the two computations alternate (ABBA), so a shared machine's drifting speed
    # weighs on both alike.
    ours, peer, ours_times, peer_times = [], [], [], []
    for i, clip in enumerate(tqdm(clips, desc="embedding", unit="clip")):
        for which in ("ours", "peer") if i % 2 == 0 else ("peer", "ours"):
            start = time.perf_counter()
            if which == "ours":
                ours.append(embedder.embed(clip, SR))
                ours_times.append(time.perf_counter() - start)
            else:
                peer.append(peer_embed(model, clip))
                peer_times.append(time.perf_counter() - start)
    ours_s, peer_s = sum(ours_times), sum(peer_times)
    max_diff = float(max(np.abs(a - b).max() for a, b in zip(ours, peer, strict=True)))
    n_windows = sum(len(e) for e in ours)

    reference = rng.standard_normal((args.reference, 512)) * rng.uniform(0.5, 1.5, 512)
    start = time.perf_counter()
    gen_stats = stats_from_embeddings(ours, "clap-laion-music")
    ref_stats = stats_from_embeddings([reference], "clap-laion-music")
    fd = frechet_distance(gen_stats.mu, gen_stats.cov, ref_stats.mu, ref_stats.cov)
    fad_s = time.perf_counter() - start
    start = time.perf_counter()
    x = np.concatenate(ours).astype(np.float64)
    fd_peer = textbook_fd(
        x.mean(0), np.cov(x, rowvar=False), reference.mean(0), np.cov(reference, rowvar=False)
    )
    fad_peer_s = time.perf_counter() - start

    result = {
        "benchmark": "eval",
        **metadata(),
        "torch_threads": torch.get_num_threads(),
        "clips": args.clips,
        "clip_seconds": 10,
        "windows": n_windows,
        "embedding": {
            "ours_seconds": round(ours_s, 2),
            "peer_seconds": round(peer_s, 2),
            "ours_windows_per_second": round(n_windows / ours_s, 2),
            "peer_windows_per_second": round(n_windows / peer_s, 2),
            "ratio_ours_to_peer": round(ours_s / peer_s, 3),
            "median_per_clip_ratio": round(float(np.median(np.divide(ours_times, peer_times))), 3),
            "max_abs_difference": max_diff,
            "batch": args.batch,
        },
        "fad": {
            "reference_embeddings": args.reference,
            "ours_seconds": round(fad_s, 4),
            "peer_seconds": round(fad_peer_s, 4),
            "ratio_ours_to_peer": round(fad_s / fad_peer_s, 3),
            "ours_value": fd,
            "peer_value": fd_peer,
            "relative_difference": abs(fd - fd_peer) / abs(fd_peer),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("windows", "embedding", "fad")}, indent=2))


if __name__ == "__main__":
    main()
