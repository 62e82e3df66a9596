"""The dataset job's config (kind ``data``): inputs, output folder, and one section per stage.

Each stage section names its backend and the backend's parameters; a stage's results are keyed by the
hash of its own section plus the sections of the stages it reads, so changing a caption template redoes
captioning and grading but never separation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from s2acc.audio import AUDIO_SUFFIXES
from s2acc.config import ConfigError
from s2acc.rates import LATENT_RATE, SAMPLE_RATE

STAGES = ("ingest", "separate", "leadsheet", "segment", "caption", "grade", "select", "encode")
# encode needs a trained VAE, so it runs only when asked for (--stages encode, or the config's stages).
DEFAULT_STAGES = STAGES[:-1]


@dataclass
class InputConfig:
    root: str = "data/synth"  # audio folder: the MTG-Jamendo layout or any tree of audio files
    extensions: list[str] = field(default_factory=lambda: list(AUDIO_SUFFIXES))
    # any: every audio file is a track (MTG-Jamendo names by their id, others by their path);
    # jamendo: a name outside {NN}/{id}_instrumental.{ext} is refused, naming the pattern
    layout: str = "any"
    reference_captions: str = ""  # optional: the official reference captions JSON
    tags_tsv: str = ""  # optional: an MTG-Jamendo TSV (TRACK_ID ... TAGS) giving each track's tags
    tags_table: str = ""  # optional: parquet/CSV with track_id and genre/instrument/mood list columns
    min_seconds: float = 5.0  # shorter tracks are refused
    max_seconds: float = 14400.0  # longer tracks are refused (read from the header, before decoding)
    # Separation and lead sheets work through a track in windows of this length (rounded up to a
    # multiple of 10.24 s), so peak memory follows the window, not the track; a track no longer than
    # one window is processed whole
    window_seconds: float = 120.0
    min_sample_rate: int = 22050  # below this a track cannot supply 44.1 kHz training audio
    max_channels: int = 2
    sample_rate: int = SAMPLE_RATE  # everything downstream works at this rate

    def __post_init__(self) -> None:
        if self.layout not in ("any", "jamendo"):
            raise ConfigError(f"input.layout must be any or jamendo, got {self.layout!r}")

    def metadata_files(self) -> list[str]:
        """The files this config reads as metadata (they may sit under the audio root)."""
        return [p for p in (self.reference_captions, self.tags_tsv, self.tags_table) if p]


@dataclass
class SeparateConfig:
    backend: str = "hpss"  # hpss (offline) | htdemucs
    keep_stems: bool = False  # stems are a cache for later stages unless kept
    vocal_threshold: float = 0.15  # vocal_energy_ratio above this flags residual vocals
    params: dict = field(default_factory=dict)


@dataclass
class LeadsheetConfig:
    backend: str = "auto"  # auto (pretrained models when installed, else librosa) | librosa
    frame_rate: float = LATENT_RATE  # must be the rate of the VAE whose latents the sheets annotate


@dataclass
class SegmentConfig:
    backend: str = "spectral"  # spectral (offline) | external
    min_seconds: float = 10.0  # segments are fitted to the training clip range
    max_seconds: float = 30.0
    # Longer tracks are segmented a window at a time, cut on the downbeat nearest each window edge
    window_seconds: float = 600.0
    params: dict = field(default_factory=dict)


@dataclass
class CaptionConfig:
    backend: str = "features"  # features (offline) | qwen2-audio
    batch_size: int = 8
    params: dict = field(default_factory=dict)


@dataclass
class GradeConfig:
    aesthetics: str = "dsp-quality"  # dsp-quality (offline) | audiobox-aesthetics
    alignment: str = "caption-consistency"  # caption-consistency (offline) | laion-clap | muq-mulan
    weights: dict = field(default_factory=lambda: {"aesthetics": 0.5, "alignment": 0.5})
    batch_size: int = 8
    params: dict = field(default_factory=dict)


@dataclass
class SelectConfig:
    fraction: float = 0.2  # keep this top share of segments
    max_per_track: int = 0  # at most this many selected segments per track (0: no cap)
    drop_vocal_tracks: bool = True  # never select segments of tracks flagged with residual vocals
    val_fraction: float = 0.1  # share of tracks held out for validation
    seed: int = 0


@dataclass
class EncodeConfig:
    vae: str = ""  # an export of s2acc train-vae, a registry name (stable-audio-open-vae), or tiny/full
    dtype: str = "float16"  # latent shards' storage type: float16 | float32
    chunk_frames: int = 256  # long segments are coded in chunks of this many latent frames (seamless)
    # all: every graded segment (DiT pretraining); selected: only the kept top fraction, for a run that
    # only fine-tunes (SFT) from a pretrain export and need not pay for coding the other 80%
    segments: str = "all"

    def __post_init__(self) -> None:
        if self.dtype not in ("float16", "float32"):
            raise ConfigError(f"encode.dtype must be float16 or float32, got {self.dtype!r}")
        if self.segments not in ("all", "selected"):
            raise ConfigError(f"encode.segments must be all or selected, got {self.segments!r}")


@dataclass
class DataConfig:
    """Where the audio is, where the dataset goes, and how each stage runs."""

    KIND: ClassVar[str] = "data"

    out: str = "runs/data"
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    flush_every: int = 8  # items per output part: a killed run loses at most this many per process
    input: InputConfig = field(default_factory=InputConfig)
    separate: SeparateConfig = field(default_factory=SeparateConfig)
    leadsheet: LeadsheetConfig = field(default_factory=LeadsheetConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    grade: GradeConfig = field(default_factory=GradeConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ConfigError(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
        if not 0.0 < self.select.fraction <= 1.0:
            raise ConfigError(f"select.fraction must be in (0, 1], got {self.select.fraction}")
        if self.input.window_seconds < 10.24:
            raise ConfigError(f"input.window_seconds must be >= 10.24, got {self.input.window_seconds}")
        if self.segment.window_seconds < 2 * self.segment.max_seconds:
            raise ConfigError(
                f"segment.window_seconds ({self.segment.window_seconds}) must be at least twice "
                f"segment.max_seconds ({self.segment.max_seconds})"
            )
        if not 0 < self.segment.min_seconds <= self.segment.max_seconds:
            raise ConfigError("need 0 < segment.min_seconds <= segment.max_seconds")
        if self.flush_every < 1:
            raise ConfigError(f"flush_every must be >= 1, got {self.flush_every}")


def synth_corpus_inputs(corpus: str | Path) -> list[str]:
    """The input overrides that point a data config at a corpus written by ``s2acc synth`` (its audio,
    its tags table and its track captions)."""
    corpus = Path(corpus)
    return [
        f"input.root={corpus}",
        f"input.tags_table={corpus / 'truth.parquet'}",
        f"input.reference_captions={corpus / 'captions.json'}",
    ]
