"""The evaluation report: ``report.md`` with PNG plots beside it, and ``report.html`` with the same
plots embedded, so the page is one self-contained file to share."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd


def _fmt(value, digits: int = 4) -> str:
    return "unavailable" if value is None else f"{value:.{digits}f}"


def _plots(
    out: Path, metrics: dict, table: pd.DataFrame, clips_dir: Path, n_spectrograms: int = 4
) -> list[tuple[str, Path]]:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2acc.audio import mono_samples, read_audio

    figures: list[tuple[str, Path]] = []
    if "clap_score" in table:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.bar(range(len(table)), table["clap_score"], color="#4477aa")
        ax.axhline(metrics["clap_score"]["value"], color="k", lw=1, ls="--", label="mean")
        ax.set_xlabel("prompt")
        ax.set_ylabel("CLAP score")
        ax.legend()
        fig.tight_layout()
        figures.append(("Per-prompt CLAP scores", out / "clap_scores.png"))
        fig.savefig(figures[-1][1], dpi=90)
        plt.close(fig)
    by_category = metrics["ccs"].get("by_category") or {}
    if by_category:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(list(by_category), list(by_category.values()), color="#228833")
        ax.set_ylim(0, 1)
        ax.set_ylabel("concepts judged present")
        fig.tight_layout()
        figures.append(("CCS by concept type", out / "ccs_by_category.png"))
        fig.savefig(figures[-1][1], dpi=90)
        plt.close(fig)
    shown = table.head(n_spectrograms)
    if len(shown):
        fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.2 * len(shown)), squeeze=False)
        for ax, row in zip(axes[:, 0], shown.itertuples(), strict=True):
            audio, sr = read_audio(clips_dir / f"{row.id}.wav", duration=10.0)
            mel = librosa.feature.melspectrogram(
                y=mono_samples(audio), sr=sr, n_fft=2048, hop_length=512, n_mels=96
            )
            ax.imshow(librosa.power_to_db(mel + 1e-10, top_db=80), origin="lower", aspect="auto")
            ax.set_title(f"{row.id}: {str(row.prompt)[:100]}", fontsize=8)
            ax.axis("off")
        fig.tight_layout()
        figures.append(("Spectrograms of the first clips (first 10 s)", out / "spectrograms.png"))
        fig.savefig(figures[-1][1], dpi=80)
        plt.close(fig)
    return figures


def summary_rows(metrics: dict) -> list[tuple[str, str, str]]:
    f = metrics["fad"]
    low, high = f["interval_95"]
    interval = "" if low is None else f"95% bootstrap interval over prompts [{low:.4f}, {high:.4f}]"
    return [
        (f"FAD ({f['embedder']})", _fmt(f["value"]), interval),
        ("CLAP score", _fmt(metrics["clap_score"]["value"]), metrics["clap_score"].get("unavailable", "")),
        ("CCS", _fmt(metrics["ccs"]["value"]), metrics["ccs"].get("unavailable", "")),
    ]


def write_reports(out: Path, metrics: dict, table: pd.DataFrame, clips_dir: Path) -> tuple[Path, Path]:
    figures = _plots(out, metrics, table, clips_dir)
    prov = metrics["provenance"]
    fad = metrics["fad"]
    provenance = {
        **prov,
        "fad embedder": fad["embedder"],
        "fad checkpoint sha256": fad["checkpoint_sha256"] or "none (offline embedder)",
        "windows (generated / reference)": f"{fad['generated_windows']} / {fad['reference_windows']}",
    }
    if fad["embedder"] != "clap-laion-music":
        note = (
            "The FAD here uses the offline `" + fad["embedder"] + "` embedder: it is not comparable with the "
            "challenge's CLAP FAD."
        )
    else:
        note = "FAD as the organisers compute it (fadtk `clap-laion-music`)."
    md = ["# Evaluation report", "", note, "", "| metric | value | note |", "|---|---|---|"]
    md += [f"| {a} | {b} | {c} |" for a, b, c in summary_rows(metrics)]
    md += ["", f"{len(table)} prompts; per-prompt values in `per_prompt.csv`.", ""]
    for title, path in figures:
        md += [f"## {title}", "", f"![{title}]({path.name})", ""]
    md += ["## Provenance", "", "| | |", "|---|---|"] + [f"| {k} | `{v}` |" for k, v in provenance.items()]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n")

    def img(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in summary_rows(metrics)
    )
    shown = table.drop(columns=[c for c in table.columns if c in ("seed",)], errors="ignore").head(100)
    per_prompt = shown.to_html(
        index=False, float_format=lambda v: f"{v:.4f}" if not np.isnan(v) else "", border=0
    )
    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>s2acc evaluation</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;font-size:13px}img{max-width:100%}</style>",
        "</head><body>",
        "<h1>Evaluation report</h1>",
        f"<p>{esc(note)}</p>",
        f"<table><tr><th>metric</th><th>value</th><th>note</th></tr>{rows}</table>",
    ]
    for title, path in figures:
        body += [f"<h2>{esc(title)}</h2>", f"<img alt='{esc(title)}' src='{img(path)}'>"]
    body += ["<h2>Per prompt</h2>", per_prompt, "<h2>Provenance</h2><table>"]
    body += [
        f"<tr><td>{esc(str(k))}</td><td><code>{esc(str(v))}</code></td></tr>" for k, v in provenance.items()
    ]
    body += ["</table></body></html>"]
    html_path = out / "report.html"
    html_path.write_text("\n".join(body))
    return md_path, html_path
