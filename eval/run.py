"""``s2acc eval run``: generate one clip per prompt, score the first 10 s as the challenge does, report.

Steps, each cached so a rerun only redoes what changed:

1. prompts: the config's CSV, or benchmark prompts drawn from the MTG-Jamendo vocabulary;
2. generation: ``clips-<key>/{id}.wav``, where the key hashes the checkpoint's weights, the VAE and the
   sampling settings; existing clips are kept;
3. FAD of the clips' first 10 s against the reference (folder or saved statistics), embeddings cached
   by audio content and embedder, with a bootstrap interval over prompts;
4. CLAP score and CCS when their weights are present (``auto``), else marked unavailable, never guessed;
5. ``metrics.json``, ``per_prompt.csv``, ``report.md`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from eval.config import EvalConfig
from s2acc.audio import AUDIO_SUFFIXES
from s2acc.config import ConfigError, config_hash, save_config
from s2acc.hub import file_sha256
from s2acc.rates import SAMPLE_RATE


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def load_prompts(cfg: EvalConfig, out: Path) -> pd.DataFrame:
    from eval.prompts import benchmark_prompts, write_prompts_csv
    from s2acc.dit.generate import read_prompts

    if not cfg.prompts:
        return read_prompts(
            write_prompts_csv(benchmark_prompts(cfg.n_prompts, cfg.prompts_seed), out / "prompts.csv")
        )
    try:
        table = read_prompts(cfg.prompts)
    except ValueError as err:
        raise ConfigError(f"prompts: {err}") from None
    table.to_csv(out / "prompts.csv", index=False)  # the run keeps the prompts it scored
    return table


def generate(cfg: EvalConfig, prompts: pd.DataFrame, out: Path, device: str, progress: bool) -> Path:
    from s2acc.dit.generate import cached_generation

    g = cfg.generation
    seconds = max(g.seconds, cfg.contract.scored_seconds)
    return cached_generation(cfg.checkpoint, prompts, out, g, g.seed, cfg.vae, seconds, device, progress)


def scored_clips(folder: Path, ids: list[str], seconds: float) -> list[np.ndarray]:
    from s2acc.audio import read_audio

    clips = []
    for i in ids:
        audio, sr = read_audio(folder / f"{i}.wav", duration=seconds)
        if sr != SAMPLE_RATE:
            raise ValueError(f"{folder / f'{i}.wav'}: {sr} Hz, the challenge scores 44.1 kHz clips")
        clips.append(audio)
    return clips


def reference_stats(cfg: EvalConfig, embedder, cache_root: Path, progress: bool):
    from eval.embedders import embed_files
    from eval.fad import EmbeddingStats, stats_from_embeddings

    path = Path(cfg.reference)
    if path.is_file():
        stats = EmbeddingStats.load(path)
        if stats.embedder != embedder.name:
            raise ConfigError(f"reference {path} holds {stats.embedder!r} statistics, not {embedder.name!r}")
        return stats
    if not path.is_dir():
        raise ConfigError(f"reference {path or '(empty)'}: not a folder of audio nor a statistics file")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ConfigError(f"reference {path}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    seconds = cfg.metrics.reference_seconds or None
    embeddings = embed_files(files, embedder, cache_root, seconds, progress=progress)
    return stats_from_embeddings(
        embeddings,
        embedder.name,
        embedder.checkpoint_sha256,
        {"folder": str(path), "files": len(files), "seconds": seconds},
    )


def bootstrap_fad(per_clip: list[np.ndarray], reference, n: int, seed: int) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of FAD over prompts resampled with replacement."""
    from eval.fad import fad, stats_from_embeddings

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        pick = rng.integers(0, len(per_clip), len(per_clip))
        stats = stats_from_embeddings(
            [per_clip[i] for i in pick], reference.embedder, reference.checkpoint_sha256, {}
        )
        values.append(fad(stats, reference))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def weights_present(name: str) -> bool:
    from s2acc.hub import default_registry

    try:
        return default_registry().status(name) in ("ok", "unverified")
    except KeyError:
        return False


def wanted(setting: str, weights: list[str]) -> bool:
    if setting == "off":
        return False
    present = all(weights_present(w) for w in weights)
    if setting == "on" and not present:
        raise ConfigError(
            f"the weights {weights} are missing (s2acc weights fetch ...); set the metric to auto or off"
        )
    return present


def run_eval(cfg: EvalConfig, progress: bool = True) -> dict:
    from eval.embedders import EmbeddingCache, make_embedder
    from eval.fad import fad, stats_from_embeddings

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)
    device = resolve_device(cfg.device)
    prompts = load_prompts(cfg, out)
    ids = prompts["id"].tolist()
    clips_dir = generate(cfg, prompts, out, device, progress)
    clips = scored_clips(clips_dir, ids, cfg.contract.scored_seconds)
    m = cfg.metrics

    params = {"device": device} if m.fad_embedder == "clap-laion-music" else {}
    embedder = make_embedder(m.fad_embedder, **params)
    cache = EmbeddingCache(out / ".embeddings", embedder)
    per_clip = [cache.embed(c, SAMPLE_RATE) for c in clips]
    reference = reference_stats(cfg, embedder, out / ".embeddings", progress)
    generated = stats_from_embeddings(
        per_clip, embedder.name, embedder.checkpoint_sha256, {"folder": str(clips_dir)}
    )
    value = fad(generated, reference)
    low, high = bootstrap_fad(per_clip, reference, m.bootstrap, m.seed) if m.bootstrap else (None, None)

    table = prompts.copy()
    metrics: dict = {
        "fad": {"value": value, "interval_95": [low, high], "embedder": embedder.name,
                "checkpoint_sha256": embedder.checkpoint_sha256, "generated_windows": generated.count,
                "reference_windows": reference.count},
    }  # fmt: skip
    if wanted(m.clap_score, ["clap-laion-music", "roberta-base"]):
        from eval.clap_score import clap_score
        from eval.embedders import ClapEmbedder

        clap = embedder if isinstance(embedder, ClapEmbedder) else ClapEmbedder(device=device)
        score = clap_score(clap, clips, SAMPLE_RATE, table["prompt"].tolist())
        table["clap_score"] = score.per_prompt
        metrics["clap_score"] = {"value": score.mean, "checkpoint_sha256": clap.checkpoint_sha256}
    else:
        metrics["clap_score"] = {"value": None, "unavailable": "LAION-CLAP music weights are not present"}
    if wanted(m.ccs, [m.ccs_judge]):
        from eval.ccs import ccs, concepts_for, load_judge

        judge = load_judge(m.ccs_judge, device=device)
        verdicts = [
            judge.judge(c, SAMPLE_RATE, concepts_for(row))
            for c, row in zip(clips, table.to_dict("records"), strict=True)
        ]
        result = ccs(verdicts)
        table["ccs"] = result.per_prompt
        metrics["ccs"] = {"value": result.score, "by_category": result.by_category, "judge": m.ccs_judge}
    else:
        metrics["ccs"] = {
            "value": None,
            "unavailable": f"the judge's weights ({m.ccs_judge}) are not present",
        }

    if m.adherence != "off" and {"tempo", "key"} <= set(table.columns):
        from eval.adherence import adherence_table
        from eval.intervals import share

        heard = pd.DataFrame(adherence_table(clips, SAMPLE_RATE, table["tempo"], table["key"]))
        table = table.assign(
            heard_tempo=heard["tempo"].round(1).to_numpy(),
            heard_key=heard["key"].to_numpy(),
            tempo_agrees=heard["tempo_agrees"].to_numpy(),
            mode_agrees=heard["mode_agrees"].to_numpy(),
        )
        metrics["adherence"] = {
            "tempo_accuracy": share(table["tempo_agrees"], seed=m.seed),
            "mode_accuracy": share(table["mode_agrees"], seed=m.seed),
        }

    from s2acc.environment import git_commit

    metrics["provenance"] = {
        "config_hash": config_hash(cfg),
        "checkpoint": cfg.checkpoint,
        "checkpoint_sha256": file_sha256(Path(cfg.checkpoint) / "model.safetensors"),
        "clips": str(clips_dir),
        "prompts_sha256": hashlib.sha256((out / "prompts.csv").read_bytes()).hexdigest(),
        "commit": git_commit(),
        "scored_seconds": cfg.contract.scored_seconds,
    }
    table.to_csv(out / "per_prompt.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    from eval.report import write_reports

    write_reports(out, metrics, table, clips_dir)
    return metrics
