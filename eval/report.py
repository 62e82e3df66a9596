"""The evaluation report: ``report.md`` with PNG plots beside it, and ``report.html`` with the same
plots embedded, so the page is one self-contained file to share.

Every clip (up to ``LISTEN_LIMIT``) is shown next to its prompt with a spectrogram (time and frequency
axes) and a player: its first 10 s as OGG Vorbis, small enough to embed a hundred in the page, with
the PNG and OGG also written to ``clips/`` for the Markdown report."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

LISTEN_LIMIT = 100
LISTEN_SECONDS = 10.0
LISTEN_COMPRESSION = 0.8  # small enough to embed a hundred clips, clear enough to judge them
HOP = 512


def mel_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """Log-mel power (96 bands, dB below the clip's peak, floored at -80) of a clip's mono mix."""
    import librosa

    from s2acc.audio import mono_samples

    mel = librosa.feature.melspectrogram(y=mono_samples(audio), sr=sr, n_fft=2048, hop_length=HOP, n_mels=96)
    return librosa.power_to_db(mel + 1e-10, ref=np.max, top_db=80)


def _fmt(value, digits: int = 4) -> str:
    return "unavailable" if value is None else f"{value:.{digits}f}"


def _plots(
    out: Path, metrics: dict, table: pd.DataFrame, clips_dir: Path, n_spectrograms: int = 4
) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2acc.audio import read_audio

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
            ax.imshow(mel_db(audio, sr), origin="lower", aspect="auto")
            ax.set_title(f"{row.id}: {str(row.prompt)[:100]}", fontsize=8)
            ax.axis("off")
        fig.tight_layout()
        figures.append(("Spectrograms of the first clips (first 10 s)", out / "spectrograms.png"))
        fig.savefig(figures[-1][1], dpi=80)
        plt.close(fig)
    return figures


def _listening(out: Path, table: pd.DataFrame, clips_dir: Path) -> list[dict]:
    """Per clip: its id, prompt, spectrogram PNG and OGG excerpt, written under ``out/clips``."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2acc.audio import read_audio, write_audio

    folder = out / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for row in table.head(LISTEN_LIMIT).itertuples():
        audio, sr = read_audio(clips_dir / f"{row.id}.wav", duration=LISTEN_SECONDS)
        fig, ax = plt.subplots(figsize=(6, 2.0))
        image = librosa.display.specshow(
            mel_db(audio, sr), sr=sr, hop_length=HOP, x_axis="time", y_axis="mel", ax=ax
        )
        fig.colorbar(image, ax=ax, format="%+.0f dB", pad=0.01)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel("Hz (mel scale)", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        png = folder / f"{row.id}.png"
        fig.savefig(png, dpi=72)
        plt.close(fig)
        ogg = write_audio(folder / f"{row.id}.ogg", audio, sr, compression=LISTEN_COMPRESSION)
        items.append(
            {"id": str(row.id), "prompt": str(row.prompt), "heard": heard(row), "png": png, "ogg": ogg}
        )
    return items


def heard(row) -> str:
    """What the analysis heard in a clip against what its prompt asked for (empty without adherence)."""
    if not hasattr(row, "heard_tempo"):
        return ""
    mark = {True: "as prompted", False: "not as prompted"}
    return (
        f"heard {row.heard_tempo:.0f} BPM (prompted {float(row.tempo):.0f}: {mark[bool(row.tempo_agrees)]}), "
        f"{row.heard_key} (prompted {row.key}: mode {mark[bool(row.mode_agrees)]})"
    )


def summary_rows(metrics: dict) -> list[tuple[str, str, str]]:
    f = metrics["fad"]
    low, high = f["interval_95"]
    interval = "" if low is None else f"95% bootstrap interval over prompts [{low:.4f}, {high:.4f}]"
    return [
        (f"FAD ({f['embedder']})", _fmt(f["value"]), interval),
        ("CLAP score", _fmt(metrics["clap_score"]["value"]), metrics["clap_score"].get("unavailable", "")),
        ("CCS", _fmt(metrics["ccs"]["value"]), metrics["ccs"].get("unavailable", "")),
        *adherence_rows(metrics),
    ]


def adherence_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """Tempo and mode accuracy, when the prompts carried tempo and key."""
    rows = []
    for name, label in (
        ("tempo_accuracy", "tempo within 8% (x0.5, x1, x2)"),
        ("mode_accuracy", "mode as prompted"),
    ):
        a = metrics.get("adherence", {}).get(name)
        if a and a["value"] is not None:
            low, high = a["interval_95"]
            rows.append(
                (
                    label,
                    f"{a['value']:.2f}",
                    f"{a['clips']} clips, 95% bootstrap interval [{low:.2f}, {high:.2f}]",
                )
            )
    return rows


def write_reports(out: Path, metrics: dict, table: pd.DataFrame, clips_dir: Path) -> tuple[Path, Path]:
    figures = _plots(out, metrics, table, clips_dir)
    clips = _listening(out, table, clips_dir)
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
    md += [f"## Listen ({len(clips)} of {len(table)} clips, first {LISTEN_SECONDS:g} s)", ""]
    for c in clips:
        rel = f"clips/{c['id']}"
        md += [f"**{c['id']}**: {c['prompt']} ([audio]({rel}.ogg))", ""]
        md += [f"*{c['heard']}*", ""] if c["heard"] else []
        md += [f"![spectrogram of {c['id']}]({rel}.png)", ""]
    md += ["## Provenance", "", "| | |", "|---|---|"] + [f"| {k} | `{v}` |" for k, v in provenance.items()]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n")

    def img(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    def ogg(path: Path) -> str:
        return "data:audio/ogg;base64," + base64.b64encode(path.read_bytes()).decode()

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
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;font-size:13px}img{max-width:100%}"
        ".clip{margin:1em 0;padding-bottom:.5em;border-bottom:1px solid #eee}audio{width:100%}</style>",
        "</head><body>",
        "<h1>Evaluation report</h1>",
        f"<p>{esc(note)}</p>",
        f"<table><tr><th>metric</th><th>value</th><th>note</th></tr>{rows}</table>",
    ]
    for title, path in figures:
        body += [f"<h2>{esc(title)}</h2>", f"<img alt='{esc(title)}' src='{img(path)}'>"]
    body += [f"<h2>Listen ({len(clips)} of {len(table)} clips, first {LISTEN_SECONDS:g} s)</h2>"]
    for c in clips:
        body += [
            f"<div class='clip'><p><b>{esc(c['id'])}</b>: {esc(c['prompt'])}</p>",
            f"<p><i>{esc(c['heard'])}</i></p>" if c["heard"] else "",
            f"<audio controls preload='none' src='{ogg(c['ogg'])}'></audio>",
            f"<img alt='spectrogram of {esc(c['id'])}' src='{img(c['png'])}'></div>",
        ]
    body += ["<h2>Per prompt</h2>", per_prompt, "<h2>Provenance</h2><table>"]
    body += [
        f"<tr><td>{esc(str(k))}</td><td><code>{esc(str(v))}</code></td></tr>" for k, v in provenance.items()
    ]
    body += ["</table></body></html>"]
    html_path = out / "report.html"
    html_path.write_text("\n".join(body))
    return md_path, html_path
