"""The track-level stages as per-track item functions: separate, leadsheet, segment, caption, grade and
encode (ingest and select work on whole tables, in :mod:`data_pipeline.pipeline`).

:class:`TrackStages` holds one process's share of a run: each stage is a method
``stage(track_id) -> rows``, and each backend a cached property built on first use, on the process's
device. Every stage reads a track's audio a span at a time (:class:`data_pipeline.tracks.TrackAudio`):
separation and lead sheets work through it in windows of ``input.window_seconds``, segmentation in
windows of ``segment.window_seconds``, and the segment-level stages read each segment on its own, so
peak memory follows the window, not the length of the recording.
"""

from __future__ import annotations

import json
import math
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from data_pipeline.config import DataConfig
from data_pipeline.runner import Context, ItemError
from data_pipeline.tracks import TrackAudio, safe_name


class Workspace:
    """Per-track files of a dataset run: stem cache and lead-sheet arrays."""

    def __init__(self, out: Path):
        self.out = out

    def stem_dir(self, track_id: str) -> Path:
        return self.out / "work" / "stems" / safe_name(track_id)

    def stem_path(self, track_id: str, stem: str) -> Path:
        return self.stem_dir(track_id) / f"{stem}.wav"

    def leadsheet_path(self, track_id: str) -> Path:
        return self.out / "leadsheets" / f"{safe_name(track_id)}.npz"

    def drop_stems(self) -> None:
        shutil.rmtree(self.out / "work" / "stems", ignore_errors=True)


class TrackStages:
    """The per-track processing of one dataset run in one process."""

    def __init__(self, cfg: DataConfig, ctx: Context, tables: dict[str, pd.DataFrame]):
        self.cfg, self.ctx, self.tables = cfg, ctx, tables
        self.ws = Workspace(ctx.out)
        self.sr = cfg.input.sample_rate
        self._groups: dict[tuple[str, str], tuple[pd.DataFrame, dict]] = {}

    # ---------------------------------------------------------------------------------- helpers

    def _rows(self, table: str, key: str) -> dict[str, pd.DataFrame]:
        """``tables[table]`` grouped by ``key``, built once per table: a per-item scan of a
        million-row table would make every stage quadratic in the dataset size."""
        frame = self.tables[table]
        cached = self._groups.get((table, key))
        if cached is None or cached[0] is not frame:
            cached = (frame, {k: g for k, g in frame.groupby(key, sort=False)})
            self._groups[(table, key)] = cached
        return cached[1]

    def _track(self, track_id: str) -> pd.Series:
        return self._rows("ingest", "track_id")[track_id].iloc[0]

    def track_audio(self, track_id: str) -> TrackAudio:
        row = self._track(track_id)
        frames = row.get("frames")  # tables written before it was recorded fall back on the header
        return TrackAudio(row["path"], self.sr, None if frames is None or pd.isna(frames) else int(frames))

    def harmonic_audio(self, track_id: str) -> TrackAudio | None:
        from data_pipeline.separation import HARMONIC_STEM

        if "separate" not in self.tables or track_id not in self._rows("separate", "track_id"):
            return None
        path = self.ws.stem_path(track_id, HARMONIC_STEM[self.cfg.separate.backend])
        return TrackAudio(path, self.sr) if path.exists() else None

    @cached_property
    def window(self) -> int:
        """Separation and lead-sheet window in samples, a whole number of analysis units."""
        from s2acc.leadsheet import WINDOW_UNIT

        units = max(1, math.ceil(self.cfg.input.window_seconds / WINDOW_UNIT - 1e-9))
        return int(round(units * WINDOW_UNIT * self.sr))

    @cached_property
    def context(self) -> int:
        """Samples read either side of a window: beyond the reach of every separator and analysis."""
        from s2acc.leadsheet import WINDOW_UNIT

        return int(round(WINDOW_UNIT * self.sr))

    def segments_of(self, track_id: str) -> pd.DataFrame:
        rows = self._rows("segment", "track_id").get(track_id)
        return rows.sort_values("seg_idx") if rows is not None else self.tables["segment"].iloc[:0]

    # ------------------------------------------------------------------------------ separate

    @cached_property
    def separator(self):
        from data_pipeline.separation import make_separator

        sep = self.cfg.separate
        return make_separator(sep.backend, device=self.ctx.device, **sep.params)

    def separate(self, track_id: str) -> list[dict]:
        from contextlib import ExitStack

        from data_pipeline.separation import stem_energy, vocal_share
        from s2acc.audio import StreamWriter, windows

        track = self.track_audio(track_id)
        energies: dict[str, float] = {}
        with ExitStack() as files:
            writers: dict[str, StreamWriter] = {}
            for lo, start, stop, hi in windows(track.n, self.window, self.context):
                stems = self.separator.separate(track.read(lo, hi), self.sr)
                for name, stem in stems.items():
                    if name not in writers:
                        path = self.ws.stem_path(track_id, name)
                        writers[name] = files.enter_context(StreamWriter(path, self.sr, len(stem), track.n))
                    part = stem[:, start - lo : stop - lo]
                    writers[name].write(part)
                    energies[name] = energies.get(name, 0.0) + stem_energy(part)
        ratio = vocal_share(energies)
        return [
            {
                "track_id": track_id,
                "separate_backend": self.cfg.separate.backend,
                "stems": ",".join(sorted(energies)),
                "vocal_energy_ratio": round(ratio, 6),
                "has_vocals": bool(ratio > self.cfg.separate.vocal_threshold),
            }
        ]

    # ----------------------------------------------------------------------------- leadsheet

    def leadsheet(self, track_id: str) -> list[dict]:
        from s2acc.leadsheet import extract_leadsheet_windowed

        track, harmonic = self.track_audio(track_id), self.harmonic_audio(track_id)
        sheet = extract_leadsheet_windowed(
            track.read,
            track.n,
            self.sr,
            self.window,
            self.context,
            read_harmonic=None if harmonic is None else harmonic.read,
            frame_rate=self.cfg.leadsheet.frame_rate,
            backend=self.cfg.leadsheet.backend,
        )
        path = self.ws.leadsheet_path(track_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
        return [
            {
                "track_id": track_id,
                "tempo": round(float(sheet.tempo), 3),
                "key": sheet.key,
                "n_beats": int(len(sheet.beats)),
                "n_frames": int(sheet.n_frames),
                "leadsheet": str(path.relative_to(self.ctx.out)),
                "leadsheet_backend": json.dumps(sheet.backend, sort_keys=True),
            }
        ]

    def _sheet(self, track_id: str):
        from s2acc.leadsheet import LeadSheet

        return LeadSheet.load(self.ws.leadsheet_path(track_id))

    # ------------------------------------------------------------------------------- segment

    @cached_property
    def segmenter(self):
        from data_pipeline.segmentation import make_segmenter

        return make_segmenter(self.cfg.segment.backend, **self.cfg.segment.params)

    def segment(self, track_id: str) -> list[dict]:
        from data_pipeline.segmentation import Section, fit_segments

        track = self.track_audio(track_id)
        sheet = self._sheet(track_id)
        duration = track.duration
        sections = []
        spans = segment_spans(duration, self.cfg.segment.window_seconds, sheet.downbeats, sheet.beats)
        for start, end in spans:
            beats, downbeats = (t[(t >= start) & (t < end)] - start for t in (sheet.beats, sheet.downbeats))
            audio = track.seconds(start, end)
            found = self.segmenter.segment(audio, self.sr, beats=beats, downbeats=downbeats)
            sections += [Section(s.start + start, s.end + start, s.label) for s in found]
        beats = sheet.downbeats if len(sheet.downbeats) >= 2 else sheet.beats
        fitted = fit_segments(
            sections, np.asarray(beats), duration, self.cfg.segment.min_seconds, self.cfg.segment.max_seconds
        )
        if not fitted:
            raise ItemError(
                f"track {track_id}: no segment fits {self.cfg.segment.min_seconds}-"
                f"{self.cfg.segment.max_seconds} s"
            )
        return [
            {
                "segment_id": f"{track_id}:{i:03d}",
                "track_id": track_id,
                "seg_idx": i,
                "start": round(float(s.start), 4),
                "end": round(float(s.end), 4),
                "duration": round(float(s.end - s.start), 4),
                "label": s.label,
            }
            for i, s in enumerate(fitted)
        ]

    # ------------------------------------------------------------------------------- caption

    @cached_property
    def captioner(self):
        from data_pipeline.captioning import make_captioner

        cap = self.cfg.caption
        params = dict(cap.params)
        if cap.backend != "features":
            params.setdefault("device", self.ctx.device)
        return make_captioner(cap.backend, **params)

    @cached_property
    def known_tags(self) -> dict[str, dict]:
        from data_pipeline.metadata import load_tags

        return load_tags(self.cfg.input, self.tables["ingest"])

    @cached_property
    def references(self):
        from data_pipeline.captioning import ReferenceCaptions

        path = self.cfg.input.reference_captions
        return ReferenceCaptions(path) if path else None

    def caption(self, track_id: str) -> list[dict]:
        from data_pipeline.captioning import CaptionItem
        from data_pipeline.features import measure

        track = self.track_audio(track_id)
        sheet = self._sheet(track_id)
        reference = self.references.get(track_id) if self.references else None
        segments = list(self.segments_of(track_id).itertuples())
        size = self.cfg.caption.batch_size
        feats, results = [], []
        for i in range(0, len(segments), size):  # a batch of clips in memory at a time
            items = []
            for row in segments[i : i + size]:
                clip = track.seconds(row.start, row.end)
                beats = sheet.beats[(sheet.beats >= row.start) & (sheet.beats < row.end)] - row.start
                features = measure(clip, self.sr, beats=beats, tempo=float(sheet.tempo), key=sheet.key)
                feats.append(features)
                items.append(
                    CaptionItem(
                        segment_id=row.segment_id,
                        audio=clip,
                        sr=self.sr,
                        role=row.label,
                        tags=self.known_tags.get(track_id, {}),
                        features=features,
                        reference=reference,
                    )
                )
            results += self.captioner.caption(items)
        rows = []
        for row, features, result in zip(segments, feats, results, strict=True):
            rows.append(
                {
                    "segment_id": row.segment_id,
                    "track_id": track_id,
                    "caption": result.caption,
                    "caption_raw": result.raw
                    if isinstance(result.raw, str)
                    else json.dumps(result.raw, default=str),
                    "template_version": result.template_version,
                    "caption_backend": result.backend,
                    "reference_caption": reference,
                    "features": json.dumps(features, sort_keys=True, default=_plain),
                }
            )
        return rows

    # --------------------------------------------------------------------------------- grade

    @cached_property
    def aesthetics(self):
        from data_pipeline.grading import make_aesthetics

        return make_aesthetics(
            self.cfg.grade.aesthetics, device=self.ctx.device, **self.cfg.grade.params.get("aesthetics", {})
        )

    @cached_property
    def alignment(self):
        if self.cfg.grade.alignment == "caption-consistency":
            return None
        from data_pipeline.grading import make_alignment

        return make_alignment(
            self.cfg.grade.alignment, device=self.ctx.device, **self.cfg.grade.params.get("alignment", {})
        )

    def grade(self, track_id: str) -> list[dict]:
        track = self.track_audio(track_id)
        captions = self._rows("caption", "segment_id")
        segments = list(self.segments_of(track_id).itertuples())
        segments = [s for s in segments if s.segment_id in captions]
        if not segments:
            raise ItemError(f"track {track_id}: no captioned segment to grade")
        texts = [str(captions[s.segment_id]["caption"].iloc[0]) for s in segments]
        size = self.cfg.grade.batch_size
        aes, align = [], []
        for i in range(0, len(segments), size):  # a batch of clips in memory at a time
            clips = [track.seconds(s.start, s.end) for s in segments[i : i + size]]
            aes += self.aesthetics.score(clips, self.sr)
            if self.alignment is not None:
                align += self.alignment.score(clips, self.sr, texts[i : i + size])
        if self.alignment is None:
            align = [caption_consistency(captions[s.segment_id].iloc[0]) for s in segments]
        rows = []
        for seg, scores, value in zip(segments, aes, align, strict=True):
            rows.append(
                {
                    "segment_id": seg.segment_id,
                    "track_id": track_id,
                    "aesthetics": main_aesthetics(scores),
                    **{f"aes_{k}": float(v) for k, v in scores.items()},
                    "alignment": float("nan") if value is None else float(value),
                    "aesthetics_backend": self.cfg.grade.aesthetics,
                    "alignment_backend": self.cfg.grade.alignment,
                }
            )
        return rows

    # -------------------------------------------------------------------------------- encode

    @cached_property
    def vae(self):
        from s2acc.vae import open_vae

        return open_vae(self.cfg.encode.vae).to(self.ctx.device)

    def encode(self, track_id: str) -> list[dict]:
        import torch
        from safetensors.torch import save_file

        from data_pipeline.encoding import encode_segments

        enc = self.cfg.encode
        segments = self._rows("dataset", "track_id")[track_id].sort_values("segment_id")
        latents = encode_segments(
            self.vae, self.track_audio(track_id).seconds, segments, enc.chunk_frames, self.ctx.device
        )
        path = self.ws.out / "latents" / f"{safe_name(track_id)}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.to(getattr(torch, enc.dtype)).contiguous() for k, v in latents.items()}, str(tmp))
        tmp.replace(path)
        return [
            {
                "segment_id": segment_id,
                "track_id": track_id,
                "latent_file": str(path.relative_to(self.ctx.out)),
                "frames": int(z.shape[1]),
                "latent_dim": int(z.shape[0]),
            }
            for segment_id, z in latents.items()
        ]


def segment_spans(
    duration: float, window: float, downbeats: np.ndarray, beats: np.ndarray
) -> list[tuple[float, float]]:
    """``(start, end)`` spans of at most ``window`` seconds covering a track, as few and as even as
    fit, each cut on the downbeat (or beat) nearest its even share; a track no longer than ``window``
    is one span."""
    grid = np.asarray(downbeats if len(downbeats) >= 2 else beats, float)
    cuts = [0.0]
    while duration - cuts[-1] > window:
        share = (duration - cuts[-1]) / math.ceil((duration - cuts[-1]) / window)
        target = cuts[-1] + share
        near = grid[(grid > cuts[-1] + share / 2) & (grid <= cuts[-1] + window) & (grid < duration)]
        cuts.append(float(near[np.argmin(np.abs(near - target))]) if len(near) else target)
    return list(zip(cuts, [*cuts[1:], duration], strict=True))


def caption_consistency(row: pd.Series) -> float | None:
    """The offline alignment: the lower consistency of the segment's caption and the track's reference
    caption (when attached) with the measured features. A reference that contradicts the audio (wrong
    tempo or key: the track was mislabelled or mispaired) marks the segment as badly described."""
    from data_pipeline.consistency import consistency

    features = json.loads(row["features"])
    texts = [row["caption"]]
    if isinstance(row.get("reference_caption"), str) and row["reference_caption"]:
        texts.append(row["reference_caption"])
    values = [v for v in (consistency(t, features) for t in texts) if v is not None]
    return min(values) if values else None


def main_aesthetics(scores: dict[str, float]) -> float:
    """The single aesthetics number ranked on: ``quality`` for the DSP grader, the mean of the four
    Audiobox axes (CE, CU, PC, PQ) otherwise."""
    if "quality" in scores:
        return float(scores["quality"])
    axes = [scores[a] for a in ("CE", "CU", "PC", "PQ") if a in scores]
    return float(np.mean(axes)) if axes else math.nan


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
