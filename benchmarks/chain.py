"""Does the small chain make music, and do the recipe's two mechanisms make it better? Generated clips
judged against held-out music, with the scale made visible by an untrained DiT and white noise.

Prompts are the captions of held-out tracks (``configs/synth/heldout.yaml``: a corpus seed no training
run uses), whose tempo and key are known. Every run judged here writes two 10 s clips per prompt (two
seeds; ``--clips-per-prompt 1`` halves the work with one clip and one reference excerpt per track), and
is measured the same way:

- **FAD ratio.** The reference is two 10 s excerpts of every held-out track (from 0 s and 10 s). The
  tracks are split into halves A and B; a run's FAD[mel-stats] is the mean of FAD(its clips for A,
  reference B) and FAD(its clips for B, reference A), divided by FAD(reference A, reference B): the
  real-vs-real floor at the same set sizes. Target <= 3.
- **Adherence** (``eval.adherence``): the first clip of each prompt, beat-tracked and key-estimated by
  the pipeline's own lead-sheet extraction. Tempo agrees within 8% of the prompted one or its double or
  half (target >= 60% of clips); mode agrees when major/minor is as prompted (target >= 70%).
- Intervals are bootstrap 95% over prompts (tracks resampled within each half for FAD).

Parts (``--parts``, each stored under its own key of the results file, so they can run separately):

- ``generation``: a DiT export (default the bundled ``small-dit``) beside the same architecture at its
  initialisation (``untrained``; every block starts as the identity) and white noise at the reference's
  loudness; the held-out originals' own adherence is the ceiling. ``vae`` copies the small VAE's musical
  figures from ``benchmarks/results/vae_musical.json`` (measured there, not here).
- ``semantic_vae``: the small VAE fine-tuned with lead-sheet distillation (align direction, the shipped
  default) against the same fine-tuning with lambda 0, same data, steps and seed; each encodes the
  pretraining corpus's selected segments, and a DiT is trained from scratch on each, with 3 seeds. The
  seeds run in turn over both arms, and the figures are written after each (``seeds_measured``), so a
  run stopped part-way has compared both arms on the seeds it finished.
- ``graded_sft``: a corpus with 30% damaged copies (``configs/synth/graded.yaml``) through the dataset
  job; from the same pretrain export (``small-dit``), SFT on the graded top 20% against SFT on a random
  20% of the same segments (one draw), 3 seeds each. Besides FAD against the clean held-out reference,
  the share of clips that the dsp-quality grader scores below the 5th percentile of the clean segments.

An ablation reports every arm's per-seed values, their mean and spread, and the difference of the arm
means with a two-level bootstrap interval (seeds resampled within each arm, prompts resampled jointly).

    python benchmarks/chain.py                                   # generation, small-dit
    python benchmarks/chain.py --parts semantic_vae,graded_sft   # the ablations (CPU hours)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path[0] = str(Path(__file__).resolve().parents[1])
from benchmarks._meta import metadata  # noqa: E402
from eval.adherence import adherence_table  # noqa: E402
from eval.embedders import EmbeddingCache, MelStatsEmbedder  # noqa: E402
from eval.fad import fad, stats_from_embeddings  # noqa: E402
from eval.intervals import share  # noqa: E402
from eval.prompts import corpus_prompts  # noqa: E402
from s2acc.audio import read_audio, write_audio  # noqa: E402
from s2acc.config import load_config  # noqa: E402
from s2acc.rates import SAMPLE_RATE, SCORED_SECONDS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"fad_ratio": 3.0, "tempo_accuracy": 0.6, "mode_accuracy": 0.7}
EXCERPTS = (0.0, 10.0)  # reference excerpt starts (s); a run writes as many clips per prompt as are used
BOOTSTRAP = 500


# ------------------------------------------------------------------------------------- held-out data


def synth_corpus(config: Path, folder: Path, n_tracks: int | None = None) -> Path:
    """A corpus from a synth config (its first ``n_tracks`` when given), synthesised on first use."""
    if not (folder / "truth.parquet").exists():
        from s2acc.synth.corpus import SynthConfig, generate_corpus

        overrides = [] if n_tracks is None else [f"n_tracks={n_tracks}"]
        generate_corpus(load_config(SynthConfig, config, overrides), folder, progress=True)
    return folder


class Judge:
    """The held-out prompts, their reference excerpts and the measures every run is judged by."""

    def __init__(self, corpus: Path, n_prompts: int | None, work: Path, clips_per_prompt: int = 2):
        self.prompts = corpus_prompts(corpus, n_prompts)
        self.excerpts = EXCERPTS[:clips_per_prompt]
        self.tracks = [p["id"] for p in self.prompts]
        self.halves = (self.tracks[0::2], self.tracks[1::2])
        self.cache = EmbeddingCache(work / ".embeddings", MelStatsEmbedder())
        paths = pd.read_parquet(corpus / "truth.parquet").set_index("track_id")["path"]
        self.reference = {
            t: [
                read_audio(corpus / paths[int(t)], offset=o, duration=SCORED_SECONDS)[0]
                for o in self.excerpts
            ]
            for t in self.tracks
        }
        self.reference_embedded = self.embed(self.reference)
        self.loudness = float(np.mean([np.sqrt(np.mean(c**2)) for cs in self.reference.values() for c in cs]))

    def embed(self, clips: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
        return {t: [self.cache.embed(c, SAMPLE_RATE) for c in cs] for t, cs in clips.items()}

    def clip_table(self) -> pd.DataFrame:
        caption = {p["id"]: p["prompt"] for p in self.prompts}
        ids = [(t, f"{t}-{k}") for t in self.tracks for k in range(len(self.excerpts))]
        return pd.DataFrame(
            {"id": [c for _, c in ids], "track": [t for t, _ in ids], "prompt": [caption[t] for t, _ in ids]}
        )

    def read(self, folder: Path) -> dict[str, list[np.ndarray]]:
        out: dict[str, list[np.ndarray]] = {}
        for row in self.clip_table().itertuples():
            out.setdefault(row.track, []).append(
                read_audio(folder / f"{row.id}.wav", duration=SCORED_SECONDS)[0]
            )
        return out

    # ------------------------------------------------------------------- measures

    def fad_ratio(self, embedded: dict, a: list[str], b: list[str]) -> tuple[float, float, float]:
        """(ratio, FAD, floor) over the tracks a (half A) and b (half B), repeats allowed."""

        def stats(table, picked):
            return stats_from_embeddings([e for t in picked for e in table[t]], "mel-stats")

        ref = self.reference_embedded
        floor = fad(stats(ref, a), stats(ref, b))
        value = (fad(stats(embedded, a), stats(ref, b)) + fad(stats(embedded, b), stats(ref, a))) / 2
        return value / floor, value, floor

    def resampled_halves(self, rng: np.random.Generator) -> tuple[list[str], list[str]]:
        a, b = ([h[i] for i in rng.integers(0, len(h), len(h))] for h in self.halves)
        return a, b

    def fad_figures(self, embedded: dict) -> dict:
        ratio, value, floor = self.fad_ratio(embedded, *self.halves)
        rng = np.random.default_rng(0)
        draws = [self.fad_ratio(embedded, *self.resampled_halves(rng))[0] for _ in range(BOOTSTRAP)]
        low, high = np.percentile(draws, [2.5, 97.5])
        return {
            "value": round(ratio, 3),
            "interval_95": [round(float(low), 3), round(float(high), 3)],
            "fad": round(value, 3),
            "floor_fad": round(floor, 3),
        }

    def adherence(self, clips: dict[str, list[np.ndarray]]) -> pd.DataFrame:
        """Per prompt (its first clip): what the analysis hears and whether it follows the prompt."""
        rows = adherence_table(
            [clips[t][0] for t in self.tracks],
            SAMPLE_RATE,
            [p["tempo"] for p in self.prompts],
            [p["key"] for p in self.prompts],
        )
        return pd.DataFrame(rows, index=self.tracks)

    def run_record(self, folder: Path) -> dict:
        """Everything an ablation needs of one run, cached as ``judged.json`` beside its clips."""
        cached = folder / "judged.json"
        if cached.exists():
            return json.loads(cached.read_text())
        clips = self.read(folder)
        heard = self.adherence(clips)
        record = {
            "embedded": {t: [e.tolist() for e in es] for t, es in self.embed(clips).items()},
            "tempo_agrees": heard["tempo_agrees"].astype(bool).to_dict(),
            "mode_agrees": heard["mode_agrees"].astype(bool).to_dict(),
        }
        cached.write_text(json.dumps(record))
        return record


# ------------------------------------------------------------------------------------------ clips


def noise_clips(judge: Judge, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, clip_id in enumerate(judge.clip_table()["id"]):
        path = folder / f"{clip_id}.wav"
        if not path.exists():
            noise = np.random.default_rng(k).standard_normal((2, int(SCORED_SECONDS * SAMPLE_RATE)))
            write_audio(path, np.clip(noise * judge.loudness, -1, 1).astype(np.float32), SAMPLE_RATE)


def model_clips(judge: Judge, folder: Path, dit: str, steps: int, cfg_scale: float, untrained: bool = False):
    """Clips from a DiT export (or its architecture at initialisation), written once."""
    table = judge.clip_table()
    if all((folder / f"{i}.wav").exists() for i in table["id"]):
        return
    import torch

    from s2acc.dit.export import load_dit
    from s2acc.dit.generate import Generator, generate_csv
    from s2acc.dit.model import LatentDiT

    model, meta = load_dit(dit)
    if untrained:
        torch.manual_seed(0)
        model = LatentDiT(model.cfg)
    generate_csv(
        Generator(model, meta),
        table[["id", "prompt"]],
        folder,
        SCORED_SECONDS,
        batch_size=16,
        steps=steps,
        cfg_scale=cfg_scale,
    )


# ------------------------------------------------------------------------------------- generation


def generation(args, judge: Judge, report: Callable[[dict], None]) -> dict:
    out: dict = {
        "prompts": len(judge.prompts),
        "clips_per_prompt": len(judge.excerpts),
        "dit": args.dit,
        "steps": args.steps,
        "cfg_scale": args.cfg_scale,
        "targets": TARGETS,
        "baselines": {},
    }
    for arm in ("trained", "untrained", "noise"):
        start = time.perf_counter()
        folder = args.work / "generation" / arm
        if arm == "noise":
            noise_clips(judge, folder)
        else:
            model_clips(judge, folder, args.dit, args.steps, args.cfg_scale, untrained=arm == "untrained")
        clips = judge.read(folder)
        figures: dict = {"fad_ratio": judge.fad_figures(judge.embed(clips))}
        if arm != "noise":
            heard = judge.adherence(clips)
            figures["tempo_accuracy"] = share(heard["tempo_agrees"])
            figures["mode_accuracy"] = share(heard["mode_agrees"])
            figures["heard"] = [
                {"id": t, "tempo": round(r.tempo, 1), "key": r.key} for t, r in heard.iterrows()
            ]
        figures["wall_seconds"] = round(time.perf_counter() - start, 1)
        print(arm, {k: v for k, v in figures.items() if k != "heard"}, flush=True)
        if arm == "trained":
            out.update(figures)
        else:
            out["baselines"][arm] = figures
    heard = judge.adherence(judge.reference)
    out["baselines"]["reference"] = {
        "tempo_accuracy": share(heard["tempo_agrees"]),
        "mode_accuracy": share(heard["mode_agrees"]),
    }
    out["meets_targets"] = {
        "fad_ratio": out["fad_ratio"]["value"] <= TARGETS["fad_ratio"],
        **{k: out[k]["value"] >= TARGETS[k] for k in ("tempo_accuracy", "mode_accuracy")},
    }
    return out


def vae_figures() -> dict:
    source = ROOT / "benchmarks/results/vae_musical.json"
    result = json.loads(source.read_text())
    small = result["vaes"]["small"]
    return {
        "beat_f_ratio": small["beat_f_ratio"],
        "beat_f_ratio_interval_95": small["beat_f_ratio_interval_95"],
        "chord_ratio": small["chord_majmin_ratio"],
        "chord_ratio_interval_95": small["chord_majmin_ratio_interval_95"],
        "vae": small["spec"],
        "source": f"{source.relative_to(ROOT)} (commit {result['commit']})",
    }


# -------------------------------------------------------------------------------------- ablations


def train_vae_run(out: Path, dataset: Path, settings: list[str]) -> Path:
    from s2acc.vae.train import VAETrainConfig, train_vae

    cfg = load_config(
        VAETrainConfig,
        ROOT / "configs/vae/demo.yaml",
        [f"out={out}", f"data.dataset={dataset}", "demo.every=0", "train.tracker=none", *settings],
    )
    export = out / "export"
    return export if (export / "model.safetensors").exists() else train_vae(cfg, progress_bar=False)


def train_dit_run(out: Path, config: Path, settings: list[str]) -> Path:
    from s2acc.dit.train import DiTTrainConfig, train_dit

    cfg = load_config(DiTTrainConfig, config, [f"out={out}", "train.tracker=none", *settings])
    export = out / "export"
    return export if (export / "model.safetensors").exists() else train_dit(cfg, progress_bar=False)


def encoded_copy(dataset: Path, dest: Path, vae: str, selected: pd.Series | None = None) -> Path:
    """``dataset``'s tables in ``dest`` (its selection replaced by ``selected`` when given), the
    selected segments encoded by ``vae``."""
    from data_pipeline.config import DataConfig
    from data_pipeline.pipeline import run_pipeline

    if not (dest / "latents" / "stats.json").exists():
        dest.mkdir(parents=True, exist_ok=True)
        for f in [*dataset.glob("*.parquet"), dataset / "config.yaml"]:
            if f.name != "encode.parquet":
                shutil.copyfile(f, dest / f.name)
        if selected is not None:
            table = pd.read_parquet(dest / "dataset.parquet")
            table["selected"] = table["segment_id"].isin(selected).to_numpy()
            table.to_parquet(dest / "dataset.parquet")
        cfg = load_config(
            DataConfig, dest / "config.yaml", [f"out={dest}", f"encode.vae={vae}", "encode.segments=selected"]
        )
        run_pipeline(cfg, ["encode"], progress=False)
    return dest


def judged_run(judge: Judge, folder: Path, dit: Path, args) -> dict:
    model_clips(judge, folder, str(dit), args.steps, args.cfg_scale)
    return judge.run_record(folder)


def run_metrics(judge: Judge, record: dict, tracks: tuple[list[str], list[str]], extra: dict) -> dict:
    embedded = {t: [np.asarray(e) for e in es] for t, es in record["embedded"].items()}
    picked = tracks[0] + tracks[1]
    out = {
        "fad_ratio": judge.fad_ratio(embedded, *tracks)[0],
        "tempo_accuracy": float(np.mean([record["tempo_agrees"][t] for t in picked])),
        "mode_accuracy": float(np.mean([record["mode_agrees"][t] for t in picked])),
    }
    for name, flags in extra.items():
        out[name] = float(np.mean([flags(record, t) for t in picked]))
    return out


def compare(judge: Judge, arms: dict[str, list[dict]], extra: dict[str, Callable] | None = None) -> dict:
    """Per arm and seed, each metric; the arm means and spreads; the difference of the first arm's mean
    from the second's with a two-level bootstrap interval (seeds within arms, prompts jointly)."""
    extra = extra or {}
    names = list(arms)
    per_seed = {a: [run_metrics(judge, r, judge.halves, extra) for r in runs] for a, runs in arms.items()}
    metrics = list(per_seed[names[0]][0])
    rng = np.random.default_rng(0)
    draws = {m: [] for m in metrics}
    for _ in range(BOOTSTRAP):
        tracks = judge.resampled_halves(rng)
        means = {}
        for a, runs in arms.items():
            picked = [runs[i] for i in rng.integers(0, len(runs), len(runs))]
            values = [run_metrics(judge, r, tracks, extra) for r in picked]
            means[a] = {m: np.mean([v[m] for v in values]) for m in metrics}
        for m in metrics:
            draws[m].append(means[names[0]][m] - means[names[1]][m])
    out: dict = {"arms": {}, "difference": {"of": f"{names[0]} - {names[1]}"}}
    for a in names:
        out["arms"][a] = {
            m: {
                "per_seed": [round(v[m], 4) for v in per_seed[a]],
                "mean": round(float(np.mean([v[m] for v in per_seed[a]])), 4),
                "std": round(float(np.std([v[m] for v in per_seed[a]], ddof=1)), 4)
                if len(per_seed[a]) > 1
                else 0.0,
            }
            for m in metrics
        }
    for m in metrics:
        low, high = np.percentile(draws[m], [2.5, 97.5])
        diff = out["arms"][names[0]][m]["mean"] - out["arms"][names[1]][m]["mean"]
        out["difference"][m] = {
            "mean": round(diff, 4),
            "interval_95": [round(float(low), 4), round(float(high), 4)],
            "excludes_zero": bool(low > 0 or high < 0),
        }
    return out


def semantic_vae(args, judge: Judge, report: Callable[[dict], None]) -> dict:
    work = args.work / "semantic_vae"
    vae_settings = {
        "distilled": ["loss.distill=1.0", "loss.distill_mode=align"],
        "baseline": ["loss.distill=0"],
    }
    dit_settings = [
        f"train.max_steps={args.dit_steps}",
        f"train.batch_size={args.dit_batch}",
        f"model.width={args.dit_width}",
        f"model.depth={args.dit_depth}",
        "train.save_every=100",
        "train.keep_checkpoints=1",
    ]
    encoded = {}
    for arm, settings in vae_settings.items():
        vae = train_vae_run(
            work / arm / "vae",
            args.pretrain_dataset,
            [f"train.max_steps={args.vae_steps}", f"train.save_every={args.vae_steps}", *settings],
        )
        encoded[arm] = (vae, encoded_copy(args.pretrain_dataset, work / arm / "dataset", str(vae)))
    # Seeds outermost: a run stopped part-way leaves both arms measured on the same seeds.
    arms: dict[str, list[dict]] = {arm: [] for arm in vae_settings}
    for seed in range(args.seeds):
        for arm, (vae, dataset) in encoded.items():
            start = time.perf_counter()
            dit = train_dit_run(
                work / arm / f"dit-{seed}",
                ROOT / "configs/dit/small.yaml",
                [f"data.dataset={dataset}", f"vae={vae}", f"train.seed={seed}", *dit_settings],
            )
            arms[arm].append(judged_run(judge, work / arm / f"clips-{seed}", dit, args))
            print(f"{arm} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
        figures = {
            "distillation": "align (the shipped default: centred-cosine alignment of a latent projection "
            "with the lead-sheet targets)",
            "vae_steps": args.vae_steps,
            "dit_steps": args.dit_steps,
            "seeds": args.seeds,
            "seeds_measured": seed + 1,
            "dit": {"width": args.dit_width, "depth": args.dit_depth, "init": "random"},
            "chords": "not measured: the held-out prompts (track captions) carry no chords",
            **compare(judge, arms),
        }
        if seed + 1 < args.seeds:
            report(figures)
    return figures


def graded_sft(args, judge: Judge, report: Callable[[dict], None]) -> dict:
    from data_pipeline.config import DataConfig, synth_corpus_inputs
    from data_pipeline.grading import DspQuality
    from data_pipeline.pipeline import run_pipeline

    work = args.work / "graded_sft"
    corpus = synth_corpus(ROOT / "configs/synth/graded.yaml", work / "corpus", args.graded_tracks)
    base = work / "dataset"
    if not (base / "dataset.parquet").exists():
        cfg = load_config(
            DataConfig,
            ROOT / "configs/data/pretrain.yaml",
            [
                f"out={base}",
                *synth_corpus_inputs(corpus),
            ],
        )
        run_pipeline(cfg, progress=True)
    table = pd.read_parquet(base / "dataset.parquet")
    truth = pd.read_parquet(corpus / "truth.parquet")
    damaged = set(truth.loc[truth["defect"].fillna("") != "", "track_id"].astype(str))
    clean = table[~table["track_id"].astype(str).isin(damaged)]
    threshold = float(np.percentile(clean["aesthetics"], 5))
    rng = np.random.default_rng(0)
    random_pick = table["segment_id"].iloc[rng.permutation(len(table))[: int(table["selected"].sum())]]
    selections = {"graded": None, "random": random_pick}
    grader = DspQuality()
    arms: dict[str, list[dict]] = {}
    for arm, selected in selections.items():
        dataset = encoded_copy(base, work / arm / "dataset", "small-vae", selected)
        arms[arm] = []
        for seed in range(args.seeds):
            dit = train_dit_run(
                work / arm / f"sft-{seed}",
                ROOT / "configs/dit/demo.yaml",
                [
                    f"data.dataset={dataset}",
                    "vae=small-vae",
                    f"train.seed={seed}",
                    f"train.max_steps={args.sft_steps}",
                    f"train.batch_size={args.sft_batch}",
                    f"train.save_every={args.sft_steps}",
                ],
            )
            folder = work / arm / f"clips-{seed}"
            record = judged_run(judge, folder, dit, args)
            if "quality" not in record:
                clips = judge.read(folder)
                record["quality"] = {
                    t: grader.score([clips[t][0]], SAMPLE_RATE)[0]["quality"] for t in judge.tracks
                }
                (folder / "judged.json").write_text(json.dumps(record))
            arms[arm].append(record)
    damaged_share = float(table.loc[table["selected"], "track_id"].astype(str).isin(damaged).mean())
    random_damaged = float(
        table.loc[table["segment_id"].isin(random_pick), "track_id"].astype(str).isin(damaged).mean()
    )
    return {
        "corpus": "configs/synth/graded.yaml",
        "segments": len(table),
        "selected": int(table["selected"].sum()),
        "damaged_share_of_selection": {"graded": round(damaged_share, 4), "random": round(random_damaged, 4)},
        "low_quality_threshold": round(threshold, 4),
        "sft_steps": args.sft_steps,
        "seeds": args.seeds,
        "init": "small-dit",
        **compare(judge, arms, {"low_quality_share": lambda r, t: r["quality"][t] < threshold}),
    }


# ------------------------------------------------------------------------------------------- main


def store(out: Path, part: str, figures: dict, seconds: float) -> None:
    """One part's figures into the results file, every other part's kept as the file holds them now."""
    result = json.loads(out.read_text()) if out.exists() else {}
    figures = {**figures, "run": {**metadata(), "wall_seconds": round(seconds, 1)}}
    if part == "generation":
        result.update(generation=figures, vae=vae_figures())
    else:
        result.setdefault("ablations", {})[part] = figures
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


PARTS = {"generation": generation, "semantic_vae": semantic_vae, "graded_sft": graded_sft}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="generation", help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--dit", default="small-dit", help="generation: DiT export folder or registry name")
    parser.add_argument("--heldout", type=Path, default=ROOT / "runs/heldout/corpus")
    parser.add_argument("--prompts", type=int, default=None, help="first N held-out tracks (default all)")
    parser.add_argument("--steps", type=int, default=32, help="Euler steps")
    parser.add_argument(
        "--clips-per-prompt",
        type=int,
        choices=(1, 2),
        default=2,
        help="clips per prompt, and reference excerpts per track (from 0 s, 10 s)",
    )
    parser.add_argument("--cfg-scale", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, default=3, help="ablations: seeds per arm")
    parser.add_argument("--pretrain-dataset", type=Path, default=ROOT / "runs/pretrain/dataset")
    parser.add_argument("--vae-steps", type=int, default=150, help="semantic_vae: VAE fine-tuning steps")
    parser.add_argument("--dit-steps", type=int, default=600, help="semantic_vae: DiT steps from scratch")
    parser.add_argument("--dit-batch", type=int, default=16)
    parser.add_argument("--dit-width", type=int, default=192)
    parser.add_argument("--dit-depth", type=int, default=6)
    parser.add_argument("--sft-steps", type=int, default=200, help="graded_sft: SFT steps")
    parser.add_argument("--sft-batch", type=int, default=8)
    parser.add_argument(
        "--graded-tracks", type=int, default=None, help="graded_sft: corpus tracks (default its config's)"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench/chain")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/chain.json")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    corpus = synth_corpus(ROOT / "configs/synth/heldout.yaml", args.heldout)
    judge = Judge(corpus, args.prompts, args.work, args.clips_per_prompt)
    for part in parts:
        start = time.perf_counter()

        def report(figures: dict, part: str = part, start: float = start) -> None:
            store(args.out, part, figures, time.perf_counter() - start)

        report(PARTS[part](args, judge, report))
        print(f"{part}: wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
