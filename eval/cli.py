"""``s2acc eval run | prompts | fad | rank`` (registered through ``s2acc.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from s2acc import commandline
from s2acc.audio import AUDIO_SUFFIXES
from s2acc.rates import SCORED_SECONDS


def _prompts(args: argparse.Namespace) -> int:
    """write ATTM-style benchmark prompts, or prompts from a corpus's captions

    Without --corpus: caption-like prompts from (genre, instrument, mood) triplets of the MTG-Jamendo
    vocabulary, drawn by tag frequency; the triplet is kept as columns. With --corpus: one prompt per
    track of a corpus written by s2acc synth (use one never trained on), its caption as the prompt and
    its tempo and key as columns, so eval run measures whether clips follow them.
    """
    from eval.prompts import benchmark_prompts, corpus_prompts, write_prompts_csv

    try:
        rows = (
            corpus_prompts(args.corpus, args.n)
            if args.corpus
            else benchmark_prompts(args.n or 100, args.seed)
        )
    except ValueError as err:
        raise commandline.CommandError(str(err)) from None
    path = write_prompts_csv(rows, args.out)
    print(f"wrote {len(rows)} prompts to {path}")
    return 0


def folder_stats(folder: Path, embedder_name: str, seconds: float | None, device: str):
    """Statistics of every audio file in ``folder`` (the first ``seconds`` of each, when given)."""
    from eval.embedders import embed_files, make_embedder
    from eval.fad import stats_from_embeddings

    if not folder.is_dir():
        raise commandline.CommandError(f"{folder} is not a folder")
    params = {"device": device} if embedder_name == "clap-laion-music" else {}
    embedder = make_embedder(embedder_name, **params)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise commandline.CommandError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    embeddings = embed_files(files, embedder, folder / ".embeddings", seconds)
    return stats_from_embeddings(
        embeddings, embedder.name, embedder.checkpoint_sha256, {"folder": str(folder), "files": len(files)}
    )


def _fad(args: argparse.Namespace) -> int:
    """FAD between a folder of generated clips and a reference

    Embeds the first 10 s of each generated file and every window of each reference file (10 s windows,
    1 s hop, as fadtk), fits Gaussians and prints the Fréchet distance with the embedder's name.
    Embeddings are cached in <folder>/.embeddings by content hash.
    """
    from eval.fad import EmbeddingStats, fad

    reference = None
    if args.reference.is_file():
        try:
            reference = EmbeddingStats.load(args.reference)
        except ValueError as err:
            raise commandline.CommandError(str(err)) from err
        if reference.embedder != args.embedder:  # checked before any embedding is computed
            raise commandline.CommandError(
                f"{args.reference} holds {reference.embedder!r} statistics; run with --embedder "
                f"{reference.embedder}"
            )
    generated = folder_stats(args.generated, args.embedder, SCORED_SECONDS, args.device)
    if reference is None:
        reference = folder_stats(args.reference, args.embedder, None, args.device)
        if args.save_reference:
            reference.save(args.save_reference)
            print(f"saved reference statistics to {args.save_reference}")
    value = fad(generated, reference)
    print(f"FAD[{generated.embedder}] = {value:.6f}  ({generated.count} vs {reference.count} windows)")
    return 0


def _run(args: argparse.Namespace) -> int:
    """generate for benchmark prompts, score FAD / CLAP score / CCS, write the report

    One clip per prompt from a DiT export, the first 10 s scored as the challenge does: FAD against a
    reference folder or statistics file (with a bootstrap interval over prompts), CLAP score and CCS
    when their weights are present. Writes metrics.json, per_prompt.csv, report.md and report.html.
    Generation and embeddings are cached, so a rerun only redoes what changed.
    """
    from eval.config import EvalConfig
    from eval.run import run_eval

    cfg = commandline.config_from_args(EvalConfig, args)
    metrics = run_eval(cfg, progress=not args.quiet)
    f = metrics["fad"]
    low, high = f["interval_95"]
    interval = "" if low is None else f" [95% {low:.4f}, {high:.4f}]"
    print(f"FAD[{f['embedder']}] = {f['value']:.6f}{interval}")
    for name in ("clap_score", "ccs"):
        value = metrics[name]["value"]
        print(
            f"{name} = "
            + (f"{value:.4f}" if value is not None else f"unavailable ({metrics[name]['unavailable']})")
        )
    print(f"report: {Path(cfg.out) / 'report.html'}")
    return 0


def _rank(args: argparse.Namespace) -> int:
    """Borda ranking of entries (csv: id,fad,clap,ccs)

    Ranks each metric (FAD ascending, CLAP and CCS descending; ties share a rank), sums the ranks and
    sorts. --published adds the published ATTM results of one track.
    """
    import pandas as pd

    from eval.rank import PUBLISHED, borda

    entries = pd.read_csv(args.entries)
    if args.published:
        field = PUBLISHED[PUBLISHED["id"].str.startswith(args.track)]
        entries = pd.concat([field, entries], ignore_index=True)
    print(borda(entries).to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """challenge metrics: benchmark prompts, FAD, Borda ranking

    The ATTM evaluation: benchmark prompts, FAD as the organisers compute it, ranking.
    """
    esub = commandline.add_group(sub, "eval", register.__doc__)
    run = commandline.add_command(esub, "run", _run)
    commandline.add_config(run, "eval config (configs/eval/attm.yaml)")
    commandline.add_quiet(run, "no progress bars")
    commandline.add_overrides(run, "e.g. checkpoint=runs/dit/export reference=ref.npz")
    pr = commandline.add_command(esub, "prompts", _prompts)
    pr.add_argument(
        "--n", type=int, default=None, help="number of prompts (default 100; with --corpus, every track)"
    )
    pr.add_argument("--corpus", type=Path, help="a corpus folder of s2acc synth: prompts from its captions")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument(
        "--out", type=Path, default=Path("prompts.csv"), help="CSV to write (default prompts.csv)"
    )
    f = commandline.add_command(esub, "fad", _fad)
    f.add_argument("generated", type=Path, help="folder of generated audio")
    f.add_argument("reference", type=Path, help="folder of reference audio, or a saved statistics .npz")
    f.add_argument(
        "--embedder",
        default="clap-laion-music",
        help="clap-laion-music (the challenge's; needs its weights) or mel-stats (offline)",
    )
    f.add_argument("--save-reference", type=Path, help="save the reference statistics to this .npz")
    f.add_argument("--device", default="cpu")
    r = commandline.add_command(esub, "rank", _rank)
    r.add_argument("entries", type=Path, help="CSV with columns id,fad,clap,ccs")
    r.add_argument("--published", action="store_true", help="rank among the published ATTM results")
    r.add_argument("--track", choices=("e", "p"), default="e", help="e: efficiency, p: performance")
