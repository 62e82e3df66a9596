"""Model-based graders: Audiobox Aesthetics, LAION-CLAP and MuQ-MuLan.

Each backend calls its package's own model and preprocessing code; only what cannot be imported in
this environment (torchaudio, which has no build for the CPU torch here) is replaced by the
project's soxr resampler. Weights come through the registry (:func:`s2acc.hub.resolve`), which never
downloads: a missing file fails at construction with its registered name. Every backend also takes
``model_obj``, an already built model, so the scoring path runs on any weights.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2acc.audio import resample
from s2acc.clap import CLAP_SR, CLAP_WINDOW, load_clap, resolve_all
from s2acc.muq_mulan import MUQ_MULAN_ID, import_muq, load_muq_mulan

AUDIOBOX_AXES = ("CE", "CU", "PC", "PQ")


def _mono_at(clip: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """(channels, samples) or (samples,) float audio as a mono float32 vector at ``target_sr``."""
    audio = np.atleast_2d(np.asarray(clip, np.float32))
    if audio.shape[-1] == 0:
        raise ValueError("cannot grade an empty clip")
    return resample(audio, sr, target_sr).mean(axis=0).astype(np.float32)


class _MissingModule(types.ModuleType):
    """Stands in for an uninstalled module during an import; any use of it fails loudly."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"{self.__name__}.{attr} was used, but {self.__name__} is not installed")


@contextlib.contextmanager
def _absent_module(name: str) -> Iterator[None]:
    """Lets a module import ``name`` at top level when it is not installed and only used elsewhere."""
    if importlib.util.find_spec(name) is not None:
        yield
        return
    placeholder = _MissingModule(name)
    sys.modules[name] = placeholder
    try:
        yield
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


# --------------------------------------------------------------------------- Audiobox Aesthetics


def _audiobox_infer() -> types.ModuleType:
    """``audiobox_aesthetics.infer``, whose top-level torchaudio import only serves file reading."""
    if importlib.util.find_spec("audiobox_aesthetics") is None:
        raise RuntimeError(
            "the audiobox-aesthetics backend needs the audiobox-aesthetics package: "
            "pip install --no-deps audiobox-aesthetics==0.0.4 (its torchaudio dependency would replace torch)"
        )
    with _absent_module("torchaudio"):
        return importlib.import_module("audiobox_aesthetics.infer")


def _predictor(model: torch.nn.Module | None, checkpoint: str | None, device: str, batch_size: int) -> Any:
    """The package's own ``AesPredictor`` (chunking, weighting, de-normalisation), fed in memory."""
    infer = _audiobox_infer()
    from audiobox_aesthetics.model.aes import AesMultiOutput, Normalize

    @dataclass
    class Predictor(infer.AesPredictor):
        model_obj: torch.nn.Module | None = None
        device_name: str = "cpu"

        def setup_model(self) -> None:
            if self.model_obj is not None:
                net = self.model_obj
            elif Path(self.checkpoint_pth).is_dir():
                net = AesMultiOutput.from_pretrained(self.checkpoint_pth)
            else:  # the original checkpoint.pt format, through the package's loader
                super().setup_model()
                net = self.model
            self.device = torch.device(self.device_name)
            self.model = net.to(self.device).eval()
            self.target_transform = {
                axis: Normalize(mean=tt["mean"], std=tt["std"])
                for axis, tt in ((a, net.target_transform[a]) for a in infer.AXES_NAME)
            }

        def audio_resample_mono(self, data_list: list[dict[str, Any]]) -> list[torch.Tensor]:
            # The package resamples with torchaudio, then averages the channels; same order here.
            return [
                torch.from_numpy(_mono_at(item["wav"], item["sample_rate"], self.sample_rate))[None]
                for item in data_list
            ]

    return Predictor(
        checkpoint_pth=checkpoint, batch_size=batch_size, data_col="wav", model_obj=model, device_name=device
    )


class AudioboxAesthetics:
    """Meta's Audiobox Aesthetics: Content Enjoyment/Usefulness, Production Complexity/Quality.

    Clips are resampled to 16 kHz mono and cut into 10 s windows (the last one zero-padded and
    masked); each axis is the window scores' mean weighted by window length, as in the package.
    """

    def __init__(
        self,
        device: str = "cpu",
        checkpoint: str | None = None,
        batch_size: int = 8,
        model_obj: torch.nn.Module | None = None,
    ) -> None:
        if model_obj is None and checkpoint is None:
            _audiobox_infer()  # a missing package is reported before missing weights
            checkpoint = str(resolve_all(["audiobox-aesthetics"])[0])
        self.batch_size = int(batch_size)
        self.predictor = _predictor(model_obj, checkpoint, device, self.batch_size)

    def score(self, clips: list[np.ndarray], sr: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        for start in range(0, len(clips), self.batch_size):
            batch = [{"wav": clip, "sample_rate": sr} for clip in clips[start : start + self.batch_size]]
            out.extend(
                {axis: float(row[axis]) for axis in AUDIOBOX_AXES} for row in self.predictor.forward(batch)
            )
        return out


# --------------------------------------------------------------------------- LAION-CLAP


class ClapAlignment:
    """Cosine between the LAION-CLAP embeddings of a clip (48 kHz mono) and of its caption.

    The non-fusion model sees 10 s: a longer clip is cut into consecutive 10 s windows whose
    embeddings are averaged, weighted by length (laion_clap itself would crop at random); a short
    window is repeat-padded by laion_clap. Audio goes through laion_clap's int16 quantisation first.
    """

    MIN_VOCAB = 256  # any byte-level BPE holds 256 byte tokens; laion_clap's offline placeholder has 5

    def __init__(
        self,
        device: str = "cpu",
        checkpoint: str | None = None,
        batch_size: int = 8,
        model_obj: Any = None,
    ) -> None:
        self.device = device
        self.batch_size = int(batch_size)
        self.model = model_obj if model_obj is not None else load_clap(checkpoint, device)
        vocab = len(self.model.tokenize)
        if vocab < self.MIN_VOCAB:
            raise RuntimeError(
                f"the CLAP text tokenizer has only {vocab} tokens: it is laion_clap's offline placeholder, "
                "not roberta-base; build the model with load_clap() (roberta-base from the weights registry)"
            )

    def audio_embeddings(self, clips: list[np.ndarray], sr: int) -> torch.Tensor:
        """Unit-norm embeddings, one row per clip."""
        from laion_clap.training.data import float32_to_int16_torch, int16_to_float32_torch

        windows, owner, weight = [], [], []
        for i, clip in enumerate(clips):
            mono = torch.from_numpy(_mono_at(clip, sr, CLAP_SR))
            mono = int16_to_float32_torch(float32_to_int16_torch(mono))
            for start in range(0, len(mono), CLAP_WINDOW):
                windows.append(mono[start : start + CLAP_WINDOW])
                owner.append(i)
                weight.append(len(windows[-1]) / CLAP_WINDOW)
        parts = [
            self.model.get_audio_embedding_from_data(windows[s : s + self.batch_size], use_tensor=True)
            for s in range(0, len(windows), self.batch_size)
        ]
        embeds = torch.cat(parts).float().cpu()
        owners, weights = torch.tensor(owner), torch.tensor(weight, dtype=torch.float32)
        pooled = torch.stack(
            [(embeds[owners == i] * weights[owners == i, None]).sum(0) for i in range(len(clips))]
        )
        return torch.nn.functional.normalize(pooled, dim=-1)

    def text_embeddings(self, captions: list[str]) -> torch.Tensor:
        embeds = self.model.get_text_embedding(list(captions), use_tensor=True)
        return torch.nn.functional.normalize(embeds.float().cpu(), dim=-1)

    def score(self, clips: list[np.ndarray], sr: int, captions: list[str]) -> list[float]:
        if len(clips) != len(captions):
            raise ValueError(f"{len(clips)} clips but {len(captions)} captions")
        if not clips:
            return []
        with torch.no_grad():
            audio = self.audio_embeddings(clips, sr)
            text = self.text_embeddings(captions)
        return [float(v) for v in (audio * text).sum(-1).clamp(-1.0, 1.0)]


# --------------------------------------------------------------------------- MuQ-MuLan


class MuqMulanAlignment:
    """MuQ-MuLan similarity of a clip (24 kHz mono) and its caption, as a cosine.

    MuQ-MuLan averages the latents of a long clip's 10 s pieces, so they are renormalised before
    ``calc_similarity`` (a dot product) to keep the score a cosine.
    """

    def __init__(self, device: str = "cpu", model_id: str = MUQ_MULAN_ID, model_obj: Any = None) -> None:
        self.device = device
        self.model = load_muq_mulan(model_id, device) if model_obj is None else model_obj
        import_muq()

    def score(self, clips: list[np.ndarray], sr: int, captions: list[str]) -> list[float]:
        if len(clips) != len(captions):
            raise ValueError(f"{len(clips)} clips but {len(captions)} captions")
        if not clips:
            return []
        target_sr = int(self.model.sr)
        wavs = [torch.from_numpy(_mono_at(clip, sr, target_sr)).to(self.model.device) for clip in clips]
        with torch.no_grad():
            audio = torch.nn.functional.normalize(self.model(wavs=wavs).float(), dim=-1)
            text = torch.nn.functional.normalize(self.model(texts=list(captions)).float(), dim=-1)
            sims = torch.stack([self.model.calc_similarity(a, t) for a, t in zip(audio, text, strict=True)])
        return [float(v) for v in sims.clamp(-1.0, 1.0).cpu()]
