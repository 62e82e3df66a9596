"""Segment captions: an audio-language model, or a caption written from measured features.

Both backends see the same :class:`CaptionItem` (the segment's audio, its structural role, the
track's known tags and the measured features) and return a :class:`CaptionResult` that keeps the raw
model answer and the prompt template version, so a dataset can always say how each caption was made.

- ``qwen2-audio``: Qwen2-Audio-7B-Instruct through transformers, from the weights registry's pinned and
  verified snapshot (``qwen2-audio-7b-instruct``; never the hub), batched, bf16 on GPU. The
  prompt asks for one ATTM-style caption (genre, instrumentation, mood, tempo feel, the segment's
  role) and passes the track's tags as hints.
- ``features``: a deterministic caption from tempo, key, energy, brightness, density, the role and the
  known tags. Phrasing varies per segment (seeded by the segment id) so captions are not one template.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from s2acc.config import ConfigError
from s2acc.tags import phrase

QWEN_TEMPLATE_VERSION = "qwen2-audio-attm-v1"
FEATURES_TEMPLATE_VERSION = "features-v1"
QWEN_SR = 16000  # the Whisper feature extractor's rate
QWEN_MAX_SECONDS = 30.0  # Whisper windows are 30 s; longer audio is cut by the feature extractor


@dataclass
class CaptionItem:
    segment_id: str
    audio: np.ndarray  # (channels, samples)
    sr: int
    role: str  # intro, verse, chorus, bridge, inst, outro
    tags: dict[str, list[str]] = field(default_factory=dict)  # genre / instrument / mood
    features: dict[str, Any] = field(default_factory=dict)  # data_pipeline.features.measure
    reference: str | None = None  # the track-level reference caption, when one is attached


@dataclass
class CaptionResult:
    caption: str
    raw: Any
    template_version: str
    backend: str


class Captioner(Protocol):
    def caption(self, items: list[CaptionItem]) -> list[CaptionResult]: ...


# ----------------------------------------------------------------------------------------- helpers


def _join(words: list[str]) -> str:
    words = [w for w in words if w]
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _rng(segment_id: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(segment_id.encode()).digest()[:8], "little"))


ROLE_WORDS = {
    "intro": "opening",
    "verse": "verse",
    "chorus": "chorus",
    "bridge": "bridge",
    "inst": "instrumental passage",
    "outro": "closing",
}


def tag_hints(tags: dict[str, list[str]]) -> str:
    parts = []
    for key, name in (("genre", "genre"), ("instrument", "instruments"), ("mood", "mood")):
        values = [phrase(t) for t in tags.get(key, [])]
        if values:
            parts.append(f"{name}: {', '.join(values)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------- features


class FeatureCaptioner:
    """Writes the caption from measurements and tags; every stated number is a measured one."""

    backend = "features"

    def caption(self, items: list[CaptionItem]) -> list[CaptionResult]:
        return [self._one(item) for item in items]

    def _one(self, item: CaptionItem) -> CaptionResult:
        f, tags, rng = item.features, item.tags, _rng(item.segment_id)
        genres = [phrase(t) for t in tags.get("genre", [])][:2]
        instruments = [phrase(t) for t in tags.get("instrument", [])][:4]
        moods = [phrase(t) for t in tags.get("mood", [])][:3]
        feel = f.get("tempo_feel")
        genre = " ".join(genres[:1]) or "instrumental"
        noun = str(rng.choice(["track", "piece", "instrumental"])) if genres else "piece"
        first = " ".join(w for w in (feel, genre) if w)
        opening = f"{_article(first).capitalize()} {first} {noun}"
        if f.get("key"):
            opening += f" in {f['key']}"
        if f.get("tempo"):
            opening += f" at about {round(f['tempo'])} BPM"
        sentences = [opening + "."]
        if instruments:
            verb = str(rng.choice(["featuring", "built on", "with"]))
            sentences.append(f"{verb.capitalize()} {_join(instruments)}.")
        texture = _join([f.get("energy_word"), f.get("brightness_word"), f.get("density_word")])
        role = ROLE_WORDS.get(item.role, item.role)
        if texture:
            sentences.append(f"This {role} section is {texture}.")
        if moods:
            sentences.append(str(rng.choice(["The mood is", "It feels"])) + f" {_join(moods)}.")
        text = " ".join(sentences)
        return CaptionResult(
            text, {"features": f, "tags": tags, "role": item.role}, FEATURES_TEMPLATE_VERSION, self.backend
        )


# ------------------------------------------------------------------------------------- qwen2-audio

QWEN_INSTRUCTION = (
    "Describe this music excerpt in one caption of at most 60 words, in the style of a text-to-music "
    "prompt: name the genre, the instruments, the mood and the tempo feel, and say that it is the "
    "{role} of the song. Write only the caption.{hints}"
)


def qwen_prompt(item: CaptionItem) -> str:
    hints = tag_hints(item.tags)
    return QWEN_INSTRUCTION.format(
        role=ROLE_WORDS.get(item.role, item.role),
        hints=f" The track is tagged with {hints}; use these where you hear them." if hints else "",
    )


def clean_answer(text: str) -> str:
    """The caption in a model answer: the first paragraph, without quotes or a 'Caption:' prefix."""
    text = text.strip()
    text = re.sub(r"^(caption|description)\s*:\s*", "", text, flags=re.I)
    text = text.split("\n\n")[0].strip().strip('"').strip()
    return re.sub(r"\s+", " ", text)


def local_snapshot(spec: str) -> str:
    """A local folder, or the verified snapshot of a weights-registry entry (a missing one fails with
    the registry's message naming the entry, never a hub or network error)."""
    if Path(spec).is_dir():
        return spec
    from s2acc.hub import resolve

    return str(resolve(spec))


class Qwen2AudioCaptioner:
    """Qwen2-Audio-Instruct captions, one chat turn per segment, generated as a batch."""

    backend = "qwen2-audio"

    def __init__(
        self,
        model: str = "qwen2-audio-7b-instruct",
        device: str = "cpu",
        dtype: str = "auto",
        max_new_tokens: int = 96,
        model_obj: Any = None,
        processor_obj: Any = None,
    ) -> None:
        import torch

        self.device = device
        self.max_new_tokens = max_new_tokens
        # ``model`` is a weights-registry name or a local snapshot folder; only the part (processor,
        # model) not passed in as an object is read from it.
        if processor_obj is None or model_obj is None:
            model = local_snapshot(model)
        if processor_obj is None:
            from transformers import AutoProcessor

            processor_obj = AutoProcessor.from_pretrained(model)
        if model_obj is None:
            from transformers import Qwen2AudioForConditionalGeneration

            torch_dtype = (
                torch.bfloat16
                if (dtype == "auto" and device.startswith("cuda"))
                else (torch.float32 if dtype == "auto" else getattr(torch, dtype))
            )
            model_obj = Qwen2AudioForConditionalGeneration.from_pretrained(model, dtype=torch_dtype)
        self.model, self.processor = model_obj, processor_obj
        self.model.to(device).eval()
        self.processor.tokenizer.padding_side = "left"  # batched generation continues from the right

    def _conversation(self, item: CaptionItem) -> list[dict]:
        return [
            {
                "role": "user",
                "content": [
                    {"type": "audio", "audio_url": item.segment_id},
                    {"type": "text", "text": qwen_prompt(item)},
                ],
            },
        ]

    def caption(self, items: list[CaptionItem]) -> list[CaptionResult]:
        import torch

        from s2acc.audio import mono_samples, resample

        if not items:
            return []
        texts = [
            self.processor.apply_chat_template(
                self._conversation(i), add_generation_prompt=True, tokenize=False
            )
            for i in items
        ]
        audios = []
        for item in items:
            mono = mono_samples(item.audio)
            mono = resample(mono[None], item.sr, QWEN_SR)[0][: int(QWEN_MAX_SECONDS * QWEN_SR)]
            audios.append(mono)
        inputs = self.processor(
            text=texts, audio=audios, sampling_rate=QWEN_SR, return_tensors="pt", padding=True
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        answers = self.processor.batch_decode(
            out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        return [CaptionResult(clean_answer(a), a, QWEN_TEMPLATE_VERSION, self.backend) for a in answers]


# -------------------------------------------------------------------------------------- references


class ReferenceCaptions:
    """The challenge's track-level reference captions: ``[{"path": "00/1085700.mp3", "caption": ...}]``.

    Keyed by the numeric track id in the path's file name, so they attach to ``NN/ID_instrumental.ext``.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read reference captions ({err})") from err
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: reference captions must be a JSON list of {{path, caption}}")
        self.captions: dict[str, str] = {}
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict) or "path" not in entry or "caption" not in entry:
                raise ConfigError(f"{path}: entry {n} needs 'path' and 'caption'")
            match = re.match(r"(\d+)", Path(str(entry["path"])).name)
            key = str(int(match.group(1))) if match else Path(str(entry["path"])).stem
            self.captions[key] = str(entry["caption"])

    def get(self, track_id: str) -> str | None:
        return self.captions.get(str(track_id))


def make_captioner(name: str, **params: Any) -> Captioner:
    if name == "features":
        params.pop("device", None)
        if params:
            raise ConfigError(f"caption backend 'features' takes no params, got {sorted(params)}")
        return FeatureCaptioner()
    if name == "qwen2-audio":
        return Qwen2AudioCaptioner(**params)
    raise ConfigError(f"unknown caption backend {name!r}; choose from features, qwen2-audio")
