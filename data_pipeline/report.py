"""``report.md`` for a dataset folder, with PNG plots beside it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from s2acc.config import ConfigError  # noqa: E402


def _hist(series: pd.Series, title: str, xlabel: str, path: Path, cut: float | None = None) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(series.dropna(), bins=30, color="#4c72b0")
    if cut is not None:
        ax.axvline(cut, color="#c44e52", linestyle="--", label=f"selection cut {cut:.2f}")
        ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("segments")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _bar(counts: pd.Series, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    counts.plot.bar(ax=ax, color="#55a868")
    ax.set_title(title)
    ax.set_ylabel("segments")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(folder: str | Path) -> Path:
    """Plots and a markdown summary of what the dataset run produced and what it rejected."""
    folder = Path(folder)
    if not (folder / "dataset.parquet").exists():
        raise ConfigError(f"{folder} has no dataset.parquet: run `s2acc data run` to the select stage first")
    ds = pd.read_parquet(folder / "dataset.parquet")
    tracks = pd.read_parquet(folder / "ingest.parquet") if (folder / "ingest.parquet").exists() else None
    failures = (
        pd.read_parquet(folder / "failures.parquet")
        if (folder / "failures.parquet").exists()
        else pd.DataFrame(columns=["item", "stage", "reason"])
    )
    plots = folder / "report"
    plots.mkdir(exist_ok=True)
    cut = float(ds.loc[ds["selected"], "score"].min()) if ds["selected"].any() else None

    _hist(ds["duration"], "Segment durations", "seconds", plots / "durations.png")
    _bar(ds["label"].value_counts(), "Structure labels", plots / "labels.png")
    _hist(ds["caption"].str.split().str.len(), "Caption lengths", "words", plots / "caption_words.png")
    _hist(ds["aesthetics"], "Aesthetics", "score", plots / "aesthetics.png")
    _hist(ds["alignment"], "Text-audio alignment", "score", plots / "alignment.png")
    _hist(ds["score"], "Combined score (standardised, weighted)", "score", plots / "score.png", cut)

    lines = [
        f"# Dataset report: {folder.name}",
        "",
        f"- tracks ingested: {len(tracks) if tracks is not None else 'n/a'}",
        f"- segments graded: {len(ds)} from {ds['track_id'].nunique()} tracks",
        f"- selected: {int(ds['selected'].sum())} ({ds['selected'].mean():.1%}), "
        f"train {int((ds['selected'] & (ds['split'] == 'train')).sum())}, "
        f"val {int((ds['selected'] & (ds['split'] == 'val')).sum())}",
        f"- selected audio: {ds.loc[ds['selected'], 'duration'].sum() / 3600:.2f} h of "
        f"{ds['duration'].sum() / 3600:.2f} h",
        f"- failed items: {len(failures)}",
        "",
        "| plot | |",
        "|---|---|",
    ]
    for name, title in [
        ("durations", "segment durations"),
        ("labels", "structure labels"),
        ("caption_words", "caption lengths"),
        ("aesthetics", "aesthetics"),
        ("alignment", "alignment"),
        ("score", "combined score and selection cut"),
    ]:
        lines.append(f"| {title} | ![{title}](report/{name}.png) |")
    lines += ["", "## Failures by stage and reason", ""]
    if len(failures):
        kinds = failures.assign(reason=failures["reason"].str.replace(r"^[^:]*: ", "", regex=True).str[:90])
        table = kinds.groupby(["stage", "reason"]).size().rename("items").reset_index()
        lines += ["| stage | reason | items |", "|---|---|---|"]
        lines += [f"| {r.stage} | {r.reason} | {r.items} |" for r in table.itertuples()]
    else:
        lines.append("None.")
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
