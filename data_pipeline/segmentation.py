"""Music structure segmentation: sections with functional labels, fitted to the training clip range.

Two backends share one interface (:class:`Segmenter`):

- ``spectral`` (offline, no weights): Laplacian spectral clustering of a beat-synchronous graph that joins
  repetition (a path-enhanced recurrence matrix of log-CQT) with local continuity (a sequence graph weighted
  by MFCC similarity), in the manner of McFee & Ellis, "Analyzing song structure with spectral
  clustering" (ISMIR 2014). Clusters become sections, sections get roles by rules (see
  :class:`SpectralSegmenter`).
- ``external``: a learned structure model installed by the user (a SongFormer-class network), reached
  through a ``"module:function"`` callable whose output is checked before it enters the dataset.

:func:`fit_segments` then turns sections into training clips: every clip between ``min_seconds`` and
``max_seconds``, cut on beats, keeping the section labels.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.ndimage import median_filter
from scipy.spatial.distance import cdist

from s2acc.audio import mono_samples

LABELS = ("intro", "verse", "chorus", "bridge", "inst", "outro")

# What learned structure models call their sections, mapped onto the dataset's roles.
LABEL_ALIASES = {
    "intro": "intro",
    "start": "intro",
    "verse": "verse",
    "prechorus": "verse",
    "pre-chorus": "verse",
    "pre_chorus": "verse",
    "chorus": "chorus",
    "refrain": "chorus",
    "hook": "chorus",
    "bridge": "bridge",
    "inst": "inst",
    "instrumental": "inst",
    "solo": "inst",
    "break": "inst",
    "interlude": "inst",
    "silence": "inst",
    "outro": "outro",
    "end": "outro",
    "coda": "outro",
    "fade": "outro",
}


@dataclass(frozen=True)
class Section:
    """A span of a track, in seconds, with its functional label (one of :data:`LABELS`)."""

    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@runtime_checkable
class Segmenter(Protocol):
    """Splits a track into labelled sections that tile ``[0, duration]``.

    ``audio`` is ``(channels, samples)`` or ``(samples,)``; ``beats``/``downbeats`` are times in seconds
    (from the lead-sheet stage) and are estimated or ignored when absent.
    """

    name: str

    def segment(
        self,
        audio: np.ndarray,
        sr: int,
        beats: np.ndarray | None = None,
        downbeats: np.ndarray | None = None,
    ) -> list[Section]: ...


# ------------------------------------------------------------------------------------ spectral backend


@dataclass
class _Analysis:
    """Beat-synchronous view of a track: the grid, the features per beat interval, and the graph."""

    grid: np.ndarray  # (n + 1,) interval edges in seconds, first 0, last the duration
    cqt: np.ndarray  # (n, bins) log-power CQT
    mfcc: np.ndarray  # (n, n_mfcc)
    loudness: np.ndarray  # (n,) RMS in dB


class SpectralSegmenter:
    """Offline structure analysis by spectral clustering of a beat-synchronous graph.

    Method (McFee & Ellis 2014, written for this project):

    1. Mono audio at ``sample_rate``; beats tracked with librosa when not given. Features are medians over
       each beat interval: log-power CQT (harmony and timbre), MFCC (timbre) and RMS loudness.
    2. Repetition graph: mutual k-nearest-neighbour affinity between beats on time-delay-embedded CQT,
       then a median filter along its diagonals so that only repeated *sequences* survive (path
       enhancement).
    3. Sequence graph: each beat linked to the next with a weight that falls with their MFCC distance,
       so that timbre changes (drums in, bass out) weaken the chain exactly at section changes.
    4. The two are mixed with the weight that balances their degrees, and the first eigenvectors of the
       normalised Laplacian (median-smoothed in time) embed the beats; k-means with ``k`` clusters on the
       first ``k`` eigenvectors gives the section types. ``k`` is chosen in ``[2, max_clusters]`` by the
       largest eigengap among the candidates whose sections are not shorter than ``min_section_seconds``
       on median.
    5. Runs of one cluster become sections. Clustering finds section *types* and misses a change
       between two sections it puts in one cluster, so the peaks of a novelty curve (Foote 2000: a
       Gaussian-tapered checkerboard kernel of ``novelty_beats`` beats a side, slid along the
       self-similarity of the standardised beat features) above ``novelty_threshold`` also start a
       section, where no boundary lies within ``min_section_seconds``. Sections shorter than
       ``min_section_seconds`` are absorbed by the neighbour they resemble most; boundaries snap to
       the nearest downbeat when downbeats are given.

    Labelling rules (a repeated cluster is one that forms two or more sections):

    - ``chorus``: the repeated cluster with the highest loudness (ties: more repeats); when no cluster
      repeats, the loudest middle section if it stands out by ``chorus_margin_db``.
    - ``verse``: the most repeated other cluster (ties: louder); with no repeats, the remaining middle
      material before the chorus.
    - ``intro``: the first section when it is at most a quarter of the track and either quieter than the
      body by ``quiet_margin_db`` or of a cluster that never comes back (material before the main
      material).
    - ``outro``: the last section under the same test, or whenever it is the third or later section.
    - ``bridge``: a middle section of a cluster heard once, placed after the first verse/chorus and
      before the last one.
    - ``inst``: everything else: further repeated clusters, and one-off sections with no clear role.
    """

    name = "spectral"

    def __init__(
        self,
        sample_rate: int = 22050,
        hop_length: int = 512,
        n_mfcc: int = 13,
        bins_per_octave: int = 12,
        n_octaves: int = 7,
        embed_beats: int = 2,
        path_width: int = 15,
        smooth_beats: int = 9,
        max_clusters: int = 8,
        min_section_seconds: float = 4.0,
        novelty_beats: int = 8,
        novelty_threshold: float = 0.4,
        snap_downbeats: bool = True,
        quiet_margin_db: float = 1.5,
        chorus_margin_db: float = 1.0,
        seed: int = 0,
        fixed_k: int = 0,
        select: str = "eigengap",
    ):
        self.fixed_k = fixed_k
        self.select = select
        if max_clusters < 2:
            raise ValueError(f"max_clusters must be >= 2, got {max_clusters}")
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.n_mfcc = n_mfcc
        self.bins_per_octave = bins_per_octave
        self.n_octaves = n_octaves
        self.embed_beats = embed_beats
        self.path_width = path_width
        self.smooth_beats = smooth_beats
        self.max_clusters = max_clusters
        self.min_section_seconds = min_section_seconds
        self.novelty_beats = novelty_beats
        self.novelty_threshold = novelty_threshold
        self.snap_downbeats = snap_downbeats
        self.quiet_margin_db = quiet_margin_db
        self.chorus_margin_db = chorus_margin_db
        self.seed = seed

    # ------------------------------------------------------------------------------------ public

    def segment(
        self,
        audio: np.ndarray,
        sr: int,
        beats: np.ndarray | None = None,
        downbeats: np.ndarray | None = None,
    ) -> list[Section]:
        y = mono_samples(audio)
        duration = len(y) / sr
        if duration <= 0:
            raise ValueError("empty audio")
        y = _resample(y, sr, self.sample_rate)
        if beats is None:
            beats = self._track_beats(y)
        analysis = self._analyse(y, np.asarray(beats, dtype=float), duration)
        n = len(analysis.grid) - 1
        if n < 4 * max(1, self.embed_beats):
            return [Section(0.0, duration, "verse")]
        labels = self._cluster(analysis)
        bounds = self._boundaries(labels, analysis)
        if downbeats is not None and self.snap_downbeats:
            bounds = _snap(bounds, analysis.grid, np.asarray(downbeats, dtype=float))
        return self._label(bounds, labels, analysis)

    # ---------------------------------------------------------------------------------- features

    def _track_beats(self, y: np.ndarray) -> np.ndarray:
        import librosa

        _, frames = librosa.beat.beat_track(y=y, sr=self.sample_rate, hop_length=self.hop_length)
        return librosa.frames_to_time(frames, sr=self.sample_rate, hop_length=self.hop_length)

    def _analyse(self, y: np.ndarray, beats: np.ndarray, duration: float) -> _Analysis:
        import librosa

        sr, hop = self.sample_rate, self.hop_length
        fmin = librosa.note_to_hz("C1")
        n_bins = self.bins_per_octave * self.n_octaves
        while fmin * 2 ** (n_bins / self.bins_per_octave) >= sr / 2:  # keep the top bin under Nyquist
            n_bins -= self.bins_per_octave
        cqt = np.abs(
            librosa.cqt(
                y, sr=sr, hop_length=hop, fmin=fmin, n_bins=n_bins, bins_per_octave=self.bins_per_octave
            )
        )
        cqt_db = librosa.amplitude_to_db(cqt, ref=np.max, top_db=80.0)
        power = np.abs(librosa.stft(y, n_fft=2048, hop_length=hop)) ** 2
        mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=80.0), n_mfcc=self.n_mfcc)
        rms = np.sqrt(power.mean(axis=0) / 2048 * 2 + 1e-12)  # per-frame level, only used relatively
        n_frames = min(cqt_db.shape[1], mfcc.shape[1])

        grid = _beat_grid(beats, duration)
        edges = np.clip(np.round(grid * sr / hop).astype(int), 0, n_frames)
        edges[-1] = n_frames
        keep = np.concatenate([[True], np.diff(edges) > 0])  # intervals shorter than a frame vanish
        edges, grid = edges[keep], grid[keep]
        if len(edges) >= 2 and edges[-1] == edges[-2]:
            edges, grid = edges[:-1], np.concatenate([grid[:-2], grid[-1:]])

        def sync(feat: np.ndarray) -> np.ndarray:
            return np.stack(
                [np.median(feat[:, a:b], axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
            )

        frame_db = 20 * np.log10(rms[:n_frames])
        loud = np.array(
            [
                10 * np.log10(np.mean(10 ** (frame_db[a:b] / 10)))
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
        )
        if len(edges) < 2:
            empty = np.zeros((0, 1))
            return _Analysis(grid, empty, empty, np.zeros(0))
        cqt_sync = sync(cqt_db[:, :n_frames])
        return _Analysis(
            grid=grid,
            cqt=cqt_sync,
            mfcc=sync(mfcc[:, :n_frames]),
            loudness=loud,
        )

    # ------------------------------------------------------------------------------------ graph

    def _embedding(self, a: _Analysis) -> np.ndarray:
        """Smoothed, cumulatively normalised Laplacian eigenvectors, one row per beat interval."""
        n = len(a.cqt)
        feats = _stack_memory(a.cqt, self.embed_beats)
        rec = _recurrence(feats, width=max(3, self.embed_beats + 1))
        rec = _path_enhance(rec, self.path_width)
        path = _sequence_graph(a.mfcc)
        deg_path, deg_rec = path.sum(axis=1), rec.sum(axis=1)
        total = deg_path + deg_rec
        mu = float(deg_path @ total / max(float(total @ total), 1e-12))
        graph = mu * rec + (1 - mu) * path
        deg = graph.sum(axis=1)
        inv = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
        lap = np.eye(n) - inv[:, None] * graph * inv[None, :]
        evals, evecs = np.linalg.eigh((lap + lap.T) / 2)
        self._evals = evals
        evecs = median_filter(evecs, size=(self.smooth_beats, 1), mode="nearest")
        return evecs

    def _cluster(self, a: _Analysis) -> np.ndarray:
        """Cluster id per beat interval, with ``k`` chosen by eigengap among plausible candidates."""
        evecs = self._embedding(a)
        evals = self._evals
        n = len(evecs)
        seconds = float(a.grid[-1])
        k_max = int(min(self.max_clusters, n - 1, max(2, seconds // self.min_section_seconds)))
        cnorm = np.sqrt(np.cumsum(evecs**2, axis=1))
        best, best_gap = None, -np.inf
        ks = [self.fixed_k] if self.fixed_k else range(2, max(k_max, 2) + 1)
        for k in ks:
            x = evecs[:, :k] / (cnorm[:, k - 1 : k] + 1e-12)
            labels = _kmeans(x, k, self.seed)
            gap = float(evals[k] - evals[k - 1]) if k < len(evals) else 0.0
            if best is None or gap > best_gap:
                best, best_gap = labels, gap
        return best

    # ----------------------------------------------------------------------------------- sections

    def _boundaries(self, labels: np.ndarray, a: _Analysis) -> list[int]:
        """Grid indices of section starts (first 0, last n): cluster changes and novelty peaks, short
        runs merged into a neighbour."""
        n = len(labels)
        starts = [0] + [i for i in range(1, n) if labels[i] != labels[i - 1]] + [n]
        grid = a.grid
        if self.novelty_threshold > 0 and n > 2 * self.novelty_beats:
            features = np.hstack([a.cqt, a.mfcc, a.loudness[:, None]])
            novelty = foote_novelty(features, self.novelty_beats)
            for i in novelty_peaks(novelty, self.novelty_threshold, self.novelty_beats):
                if min(abs(grid[i] - grid[s]) for s in starts) >= self.min_section_seconds:
                    starts.append(i)
            starts.sort()
        while len(starts) > 2:
            lengths = [grid[starts[j + 1]] - grid[starts[j]] for j in range(len(starts) - 1)]
            j = int(np.argmin(lengths))
            if lengths[j] >= self.min_section_seconds:
                break
            if j == 0:
                drop = 1
            elif j == len(lengths) - 1:
                drop = j
            else:  # absorbed by the neighbour it resembles most
                mid = a.cqt[starts[j] : starts[j + 1]].mean(axis=0)
                left = a.cqt[starts[j - 1] : starts[j]].mean(axis=0)
                right = a.cqt[starts[j + 1] : starts[j + 2]].mean(axis=0)
                drop = j if np.linalg.norm(mid - left) <= np.linalg.norm(mid - right) else j + 1
            del starts[drop]
        return starts

    def _label(self, bounds: list[int], labels: np.ndarray, a: _Analysis) -> list[Section]:
        grid = a.grid
        spans = [(bounds[j], bounds[j + 1]) for j in range(len(bounds) - 1)]
        cluster = [int(np.bincount(labels[s:e]).argmax()) for s, e in spans]
        loud = [_mean_db(a.loudness[s:e]) for s, e in spans]
        roles = assign_roles(cluster, loud, [float(grid[e] - grid[s]) for s, e in spans], self)
        return [
            Section(float(grid[s]), float(grid[e]), role) for (s, e), role in zip(spans, roles, strict=True)
        ]


def assign_roles(
    cluster: Sequence[int],
    loudness_db: Sequence[float],
    durations: Sequence[float],
    params: SpectralSegmenter | None = None,
) -> list[str]:
    """Functional labels for consecutive sections from their cluster ids, loudness and durations.

    The rules are those of :class:`SpectralSegmenter`; kept separate so that they can be read and tested
    on their own.
    """
    quiet = params.quiet_margin_db if params else 1.5
    margin = params.chorus_margin_db if params else 1.0
    n = len(cluster)
    if n == 0:
        return []
    if n == 1:
        return ["verse"]
    total = float(sum(durations))
    roles: list[str | None] = [None] * n

    def once(j: int) -> bool:
        return sum(c == cluster[j] for c in cluster) == 1

    body = list(range(1, n - 1)) or list(range(n))
    body_db = float(np.median([loudness_db[j] for j in body]))
    for j in (0, n - 1):
        short = durations[j] <= 0.25 * total
        quieter = loudness_db[j] < body_db - quiet
        if n >= 3 and short and (quieter or once(j)):
            roles[j] = "intro" if j == 0 else "outro"
    if n >= 3 and roles[n - 1] is None:
        roles[n - 1] = "outro"

    middle = [j for j in range(n) if roles[j] is None]
    counts: dict[int, int] = {}
    level: dict[int, list[float]] = {}
    for j in middle:
        counts[cluster[j]] = counts.get(cluster[j], 0) + 1
        level.setdefault(cluster[j], []).append(loudness_db[j])
    repeated = [c for c in counts if counts[c] >= 2]
    mean_db = {c: float(np.mean(v)) for c, v in level.items()}
    if repeated:
        chorus = max(repeated, key=lambda c: (mean_db[c], counts[c]))
        others = [c for c in repeated if c != chorus]
        verse = max(others, key=lambda c: (counts[c], mean_db[c])) if others else None
        for j in middle:
            if cluster[j] == chorus:
                roles[j] = "chorus"
            elif cluster[j] == verse:
                roles[j] = "verse"
        main = [j for j in middle if roles[j] in ("chorus", "verse")]
        for j in middle:
            if roles[j] is None:
                inside = main and main[0] < j < main[-1]
                roles[j] = "bridge" if counts[cluster[j]] == 1 and inside else "inst"
            if roles[j] is None:
                roles[j] = "inst"
    elif middle:
        loudest = max(middle, key=lambda j: loudness_db[j])
        rest = [loudness_db[j] for j in middle if j != loudest]
        stands_out = not rest or loudness_db[loudest] >= max(rest) + margin
        for j in middle:
            roles[j] = "chorus" if (j == loudest and stands_out) else "verse"
    return [r or "inst" for r in roles]


# --------------------------------------------------------------------------------- graph helpers


def _stack_memory(x: np.ndarray, steps: int) -> np.ndarray:
    """Each row joined with the ``steps - 1`` rows before it (edge rows repeated): a time-delay embedding."""
    if steps <= 1:
        return x
    parts = [x] + [np.concatenate([np.repeat(x[:1], d, axis=0), x[:-d]]) for d in range(1, steps)]
    return np.concatenate(parts, axis=1)


def _recurrence(x: np.ndarray, width: int) -> np.ndarray:
    """Symmetric mutual k-NN affinity ``exp(-d / median kth distance)``, zero within ``width`` of the
    diagonal (those neighbours are trivially similar and belong to the sequence graph)."""
    n = len(x)
    dist = cdist(x, x)
    idx = np.arange(n)
    near = np.abs(idx[:, None] - idx[None, :]) < width
    masked = np.where(near, np.inf, dist)
    k = int(min(max(2, 2 * math.ceil(math.sqrt(n))), max(1, n - 2 * width)))
    order = np.argsort(masked, axis=1)[:, :k]
    knn = np.zeros((n, n), dtype=bool)
    knn[idx[:, None], order] = True
    knn &= ~near
    mutual = knn & knn.T
    kth = np.take_along_axis(masked, order[:, -1:], axis=1)[:, 0]
    finite = kth[np.isfinite(kth)]
    sigma = float(np.median(finite)) if len(finite) else 1.0
    return np.where(mutual, np.exp(-dist / max(sigma, 1e-9)), 0.0)


def _path_enhance(rec: np.ndarray, width: int) -> np.ndarray:
    """Median filter along the diagonals: isolated matches vanish, repeated sequences stay."""
    if width <= 1:
        return rec
    n = len(rec)
    i, j = np.tril_indices(n)
    lag = np.zeros((n, n))
    lag[i - j, j] = rec[i, j]
    lag = median_filter(lag, size=(1, width), mode="constant")
    out = np.zeros_like(rec)
    out[i, j] = lag[i - j, j]
    return np.maximum(out, out.T)


def foote_novelty(features: np.ndarray, half: int) -> np.ndarray:
    """Novelty per row of ``features`` (n, d): a checkerboard kernel with ``half`` rows a side and a
    Gaussian taper, correlated along the diagonal of the cosine self-similarity of the standardised
    features, scaled so that a change between two internally uniform, opposite blocks scores 2."""
    x = features - features.mean(axis=0)
    x = x / (x.std(axis=0) + 1e-9)
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
    offsets = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (offsets / (half / 2)) ** 2)
    kernel = np.outer(taper * np.sign(offsets), taper * np.sign(offsets))
    kernel /= kernel[kernel > 0].sum()
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half, axis=0)[: len(x)]  # (n, d, 2h)
    local = np.einsum("ndi,ndj->nij", windows, windows)  # each row's (2h, 2h) block of the similarity
    return np.maximum(np.einsum("nij,ij->n", local, kernel), 0.0)


def novelty_peaks(novelty: np.ndarray, threshold: float, half: int) -> list[int]:
    """Indices (not the first or last) where ``novelty`` reaches ``threshold`` and is the maximum
    within ``half`` rows either side."""
    n = len(novelty)
    return [
        i
        for i in range(1, n - 1)
        if novelty[i] >= threshold and novelty[i] == novelty[max(0, i - half) : i + half + 1].max()
    ]


def _sequence_graph(mfcc: np.ndarray) -> np.ndarray:
    """Links between consecutive beats, weighted ``exp(-||delta mfcc||^2 / median)``."""
    n = len(mfcc)
    d2 = np.sum(np.diff(mfcc, axis=0) ** 2, axis=1)
    sigma = float(np.median(d2)) if len(d2) else 1.0
    w = np.exp(-d2 / max(sigma, 1e-9))
    out = np.zeros((n, n))
    out[np.arange(n - 1), np.arange(1, n)] = w
    out[np.arange(1, n), np.arange(n - 1)] = w
    return out


def _kmeans(x: np.ndarray, k: int, seed: int, restarts: int = 5, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; the best of a few seeded restarts (deterministic)."""
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(restarts):
        centers = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d2 = np.min(cdist(x, np.asarray(centers), "sqeuclidean"), axis=1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
            centers.append(x[rng.choice(len(x), p=p)])
        c = np.asarray(centers)
        for _ in range(iters):
            labels = np.argmin(cdist(x, c, "sqeuclidean"), axis=1)
            new = np.array([x[labels == m].mean(axis=0) if np.any(labels == m) else c[m] for m in range(k)])
            if np.allclose(new, c):
                break
            c = new
        cost = float(np.sum((x - c[labels]) ** 2))
        if cost < best_cost:
            best, best_cost = labels, cost
    # Relabel in order of first appearance so that ids are stable across runs.
    _, first = np.unique(best, return_index=True)
    remap = {int(best[f]): r for r, f in enumerate(sorted(first))}
    return np.array([remap[int(v)] for v in best])


# ------------------------------------------------------------------------------------ time helpers


def _resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return y
    from s2acc.audio import resample

    return resample(y[None], sr, target)[0]


def _beat_grid(beats: np.ndarray, duration: float, min_gap: float = 0.05) -> np.ndarray:
    """Interval edges: 0, the beats inside the track (sorted, deduplicated), the duration."""
    b = np.unique(np.asarray(beats, dtype=float).ravel())
    b = b[np.isfinite(b) & (b > min_gap) & (b < duration - min_gap)]
    if len(b):
        keep = np.concatenate([[True], np.diff(b) > min_gap])
        b = b[keep]
    return np.concatenate([[0.0], b, [duration]])


def _snap(bounds: list[int], grid: np.ndarray, downbeats: np.ndarray) -> list[int]:
    """Move inner boundaries to the grid point nearest the nearest downbeat; collapsed ones merge."""
    d = np.unique(np.asarray(downbeats, dtype=float).ravel())
    d = d[np.isfinite(d) & (d > 0) & (d < grid[-1])]
    if len(d) == 0:
        return bounds
    out = [0]
    for b in bounds[1:-1]:
        target = d[np.argmin(np.abs(d - grid[b]))]
        g = int(np.argmin(np.abs(grid - target)))
        if 0 < g < len(grid) - 1 and g > out[-1]:
            out.append(g)
    out.append(len(grid) - 1)
    return out


def _mean_db(db: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (np.asarray(db) / 10)))) if len(db) else -120.0


# ------------------------------------------------------------------------------------ external model


class ExternalSegmenter:
    """A user-installed learned structure model behind the :class:`Segmenter` interface.

    ``target`` is ``"package.module:function"`` (or ``"path/to/file.py:function"``). The function is
    called as ``fn(audio, sr, **options)``, plus ``beats=``/``downbeats=`` when its signature takes
    them, and must return ``[(start, end, label), ...]`` in seconds. Its output is checked, not trusted:
    sections must be finite, ordered, non-overlapping and inside the track, labels must map onto
    :data:`LABELS` (through :data:`LABEL_ALIASES` and ``label_map``). Gaps between sections (silence a
    model leaves out) are closed by stretching the earlier section, so the result tiles the track.
    """

    def __init__(
        self,
        target: str,
        label_map: dict[str, str] | None = None,
        tolerance: float = 0.05,
        name: str = "external",
        **options,
    ):
        self.target = target
        self.name = name
        self.tolerance = tolerance
        self.options = options
        self.aliases = {**LABEL_ALIASES, **{k.lower(): v for k, v in (label_map or {}).items()}}
        bad = sorted(v for v in self.aliases.values() if v not in LABELS)
        if bad:
            raise ValueError(f"label_map maps onto unknown labels {bad}; allowed: {list(LABELS)}")
        self.fn = load_callable(target)

    def segment(
        self,
        audio: np.ndarray,
        sr: int,
        beats: np.ndarray | None = None,
        downbeats: np.ndarray | None = None,
    ) -> list[Section]:
        duration = np.asarray(audio).shape[-1] / sr
        kwargs = dict(self.options)
        params = inspect.signature(self.fn).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        for key, value in (("beats", beats), ("downbeats", downbeats)):
            if takes_any or key in params:
                kwargs[key] = value
        raw = self.fn(audio, sr, **kwargs)
        return self.validate(raw, duration)

    def validate(self, raw, duration: float) -> list[Section]:
        """Check a model's output and turn it into sections tiling ``[0, duration]``."""
        where = f"segmenter {self.target!r}"
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence | np.ndarray):
            raise ValueError(f"{where} must return a list of (start, end, label), got {type(raw).__name__}")
        if len(raw) == 0:
            raise ValueError(f"{where} returned no sections")
        rows = []
        for i, item in enumerate(raw):
            if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 3:
                raise ValueError(f"{where}: section {i} is {item!r}; expected (start, end, label)")
            start, end, label = item
            try:
                start, end = float(start), float(end)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: section {i} has non-numeric times {item!r}") from None
            if not (math.isfinite(start) and math.isfinite(end)):
                raise ValueError(f"{where}: section {i} has non-finite times {item!r}")
            if end <= start:
                raise ValueError(f"{where}: section {i} ends before it starts: {item!r}")
            if start < -self.tolerance or end > duration + self.tolerance:
                raise ValueError(
                    f"{where}: section {i} {item!r} lies outside the track [0, {duration:.3f}] s"
                )
            if not isinstance(label, str) or label.strip().lower() not in self.aliases:
                raise ValueError(
                    f"{where}: section {i} has label {label!r}; expected one of {list(LABELS)} "
                    f"or a known alias (pass label_map to add one)"
                )
            rows.append((max(start, 0.0), min(end, duration), self.aliases[label.strip().lower()]))
        for i in range(1, len(rows)):
            if rows[i][0] < rows[i - 1][1] - self.tolerance:
                raise ValueError(
                    f"{where}: sections {i - 1} and {i} overlap or are out of order: {rows[i - 1 : i + 1]}"
                )
        edges = [0.0] + [r[0] for r in rows[1:]] + [duration]
        out = [Section(edges[i], edges[i + 1], rows[i][2]) for i in range(len(rows))]
        out = [s for s in out if s.end > s.start]
        if not out:
            raise ValueError(f"{where} returned no section of positive length")
        return out


def load_callable(target: str) -> Callable:
    """``"module:function"`` or ``"file.py:function"`` to the function it names, with clear errors."""
    if not isinstance(target, str) or target.count(":") < 1:
        raise ValueError(f"segmenter target must be 'module:function', got {target!r}")
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"segmenter target must be 'module:function', got {target!r}")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ValueError(f"segmenter module file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"_segmenter_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"cannot import segmenter module {module_name!r}: {err}") from err
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ValueError(f"segmenter module {module_name!r} has no attribute {attr!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"segmenter target {target!r} is not callable")
    return fn


# ------------------------------------------------------------------------------------ factory


def make_segmenter(name: str, **params) -> Segmenter:
    """The backend named in config: ``"spectral"`` (offline) or ``"external"`` (needs ``target=``)."""
    if name == "spectral":
        return SpectralSegmenter(**params)
    if name == "external":
        if "target" not in params:
            raise ValueError("the external segmenter needs target='module:function' in segment.params")
        return ExternalSegmenter(**params)
    raise ValueError(f"unknown segmenter {name!r}; choose 'spectral' or 'external'")


# ------------------------------------------------------------------------------------ fitting


def fit_segments(
    sections: list[Section],
    beats: np.ndarray,
    duration: float,
    min_seconds: float,
    max_seconds: float,
) -> list[Section]:
    """Training clips from sections: each between ``min_seconds`` and ``max_seconds``, cut on beats.

    Sections shorter than ``min_seconds`` are merged into their shorter neighbour (the merged clip keeps
    the longer part's label); longer than ``max_seconds`` are split into the fewest near-equal parts,
    each cut moved to the nearest beat that keeps both sides in range. Whatever still cannot fit (a
    track shorter than ``min_seconds``) is dropped.
    """
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    merged = [
        Section(max(0.0, s.start), min(duration, s.end), s.label)
        for s in sorted(sections, key=lambda s: s.start)
        if min(duration, s.end) - max(0.0, s.start) > 1e-6
    ]
    while len(merged) > 1:
        short = [i for i, s in enumerate(merged) if s.duration < min_seconds]
        if not short:
            break
        i = min(short, key=lambda k: merged[k].duration)
        j = min((k for k in (i - 1, i + 1) if 0 <= k < len(merged)), key=lambda k: merged[k].duration)
        a, b = sorted((i, j))
        label = merged[a].label if merged[a].duration >= merged[b].duration else merged[b].label
        merged[a : b + 1] = [Section(merged[a].start, merged[b].end, label)]
    grid = np.unique(np.asarray(beats, float))
    out: list[Section] = []
    for sec in merged:
        if sec.duration < min_seconds - 1e-6:
            continue
        for start, end in _split(sec.start, sec.end, grid, min_seconds, max_seconds):
            out.append(Section(round(start, 4), round(end, 4), sec.label))
    return out


def _split(start: float, end: float, grid: np.ndarray, lo: float, hi: float) -> list[tuple[float, float]]:
    """[start, end) cut into pieces of length in [lo, hi], cuts on ``grid`` where possible."""
    length = end - start
    if length <= hi + 1e-6:
        return [(start, end)]
    parts = math.ceil(length / hi)
    if length / parts < lo:  # near-equal parts would be too short: whole max-length pieces instead
        pieces, t = [], start
        while end - t >= lo - 1e-6:
            pieces.append((t, min(t + hi, end)))
            t += hi
        return pieces
    cuts = [start]
    for m in range(1, parts):
        ideal = start + m * length / parts
        left = parts - m  # pieces still to cut after this one
        # Cuts that keep this piece and the rest of the section cuttable into pieces in range.
        earliest = max(cuts[-1] + lo, end - hi * left)
        latest = min(cuts[-1] + hi, end - lo * left)
        ok = grid[(grid >= earliest - 1e-9) & (grid <= latest + 1e-9)]
        cuts.append(
            float(ok[np.argmin(np.abs(ok - ideal))]) if len(ok) else float(np.clip(ideal, earliest, latest))
        )
    cuts.append(end)
    return list(zip(cuts[:-1], cuts[1:], strict=True))
