"""Concept Coverage Score: the share of each prompt's concepts an audio-language judge hears in its clip.

Each prompt carries M concepts (genre, instrument, mood), from the prompts CSV's columns or found in
its text by matching the MTG-Jamendo vocabulary. For each concept the judge hears the clip and is asked
one yes/no question; the concept counts as present when the logit of "Yes" exceeds the logit of "No"
at the first answer position (no sampling). CCS is the mean over prompts of K/M; prompts with no
concept are left out and counted in the report.

Two judges share that yes/no logic and differ only in how they load: Qwen2-Audio-Instruct, and
Qwen3-Omni-Instruct, the organisers' judge, of which only the thinker (the text-generating part) is
loaded. :func:`load_judge` picks one by its weights-registry name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from s2acc.tags import phrase, vocabulary

CATEGORIES = {"genre": "genre", "instrument": "instrument", "mood": "mood/theme"}
QUESTIONS = {
    "genre": "Is this music in the {} genre?",
    "instrument": "Can you hear {} in this music?",
    "mood": "Does this music sound {}?",
}
ANSWER_HINT = " Answer Yes or No."
JUDGE_SR = 16000


@dataclass(frozen=True)
class Concept:
    category: str  # genre | instrument | mood
    tag: str  # MTG-Jamendo tag, e.g. "electricguitar"

    @property
    def question(self) -> str:
        return QUESTIONS[self.category].format(phrase(self.tag)) + ANSWER_HINT


def _split(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v.strip() for v in re.split(r"[|,;]", str(value)) if v.strip()]


def extract_concepts(text: str) -> list[Concept]:
    """Vocabulary tags named in ``text`` (as the tag or its spelled-out phrase), in category order.

    Longer names are matched first and their words blanked, so "electric guitar" yields
    ``electricguitar`` and not also ``guitar``.
    """
    lowered = text.lower()
    forms = sorted(
        (
            (form, category, tag)
            for category, key in CATEGORIES.items()
            for tag in vocabulary()[key]
            for form in {tag, phrase(tag).lower()}
        ),
        key=lambda f: -len(f[0]),
    )
    found: set[Concept] = set()
    for form, category, tag in forms:
        pattern = rf"(?<![\w-]){re.escape(form)}(?![\w-])"
        if re.search(pattern, lowered):
            found.add(Concept(category, tag))
            lowered = re.sub(pattern, " ", lowered)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    ranks = {(c, t): i for c, key in CATEGORIES.items() for i, t in enumerate(vocabulary()[key])}
    return sorted(found, key=lambda c: (order[c.category], ranks[(c.category, c.tag)]))


def concepts_for(row: dict) -> list[Concept]:
    """The CSV's genre/instrument/mood columns when any is filled, else the concepts in the prompt."""
    listed = [Concept(c, t) for c in CATEGORIES for t in _split(row.get(c))]
    return listed or extract_concepts(str(row.get("prompt", "")))


@dataclass
class CcsResult:
    score: float | None  # None when no prompt has a concept
    per_prompt: list[float | None]  # K/M, None for prompts without concepts
    by_category: dict[str, float]  # share of concepts judged present, per category


def ccs(present: list[list[tuple[Concept, bool]]]) -> CcsResult:
    """CCS from the judge's verdicts, one list of (concept, present) per prompt."""
    per_prompt = [sum(p for _, p in verdicts) / len(verdicts) if verdicts else None for verdicts in present]
    scored = [v for v in per_prompt if v is not None]
    by_category = {}
    for category in CATEGORIES:
        hits = [p for verdicts in present for c, p in verdicts if c.category == category]
        if hits:
            by_category[category] = float(np.mean(hits))
    return CcsResult(float(np.mean(scored)) if scored else None, per_prompt, by_category)


class AudioYesNoJudge:
    """Yes/no questions about a clip, answered by comparing the "Yes" and "No" logits.

    The prompt, the processor call and the comparison are the same for every backend; a subclass says
    which checkpoint it defaults to and how to load its model and processor.
    """

    default_model = ""

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        revision: str | None = None,
        model_obj: Any = None,
        processor_obj: Any = None,
    ) -> None:
        import torch

        self.device = device
        if model_obj is None or processor_obj is None:
            model = model or self.default_model
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            processor_obj = processor_obj or self._load_processor(model, revision)
            model_obj = model_obj or self._load_model(model, revision, dtype, device)
        self.model, self.processor = model_obj.to(device).eval(), processor_obj
        self.processor.tokenizer.padding_side = "left"  # the answer position is the last one in every row
        self.yes, self.no = (self._token(w) for w in ("Yes", "No"))

    def _load_processor(self, model: str, revision: str | None) -> Any:
        raise NotImplementedError

    def _load_model(self, model: str, revision: str | None, dtype: Any, device: str) -> Any:
        raise NotImplementedError

    def _token(self, word: str) -> int:
        ids = self.processor.tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeError(f"the judge's tokenizer splits {word!r} into {len(ids)} tokens; need one")
        return ids[0]

    def logits(self, audio: np.ndarray, sr: int, questions: list[str]) -> np.ndarray:
        """(len(questions), 2) logits of "Yes" and "No" for the first answer token."""
        import torch

        from s2acc.audio import mono_samples, resample

        mono = mono_samples(audio)
        mono = resample(mono[None], sr, JUDGE_SR)[0] if sr != JUDGE_SR else mono
        texts = [
            self.processor.apply_chat_template(
                [
                    {
                        "role": "user",
                        "content": [{"type": "audio", "audio_url": "clip"}, {"type": "text", "text": q}],
                    }
                ],
                add_generation_prompt=True,
                tokenize=False,
            )
            for q in questions
        ]
        inputs = self.processor(
            text=texts, audio=[mono] * len(texts), sampling_rate=JUDGE_SR, return_tensors="pt", padding=True
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
        with torch.inference_mode():
            last = self.model(**inputs).logits[:, -1, :].float()
        return last[:, [self.yes, self.no]].cpu().numpy()

    def judge(self, audio: np.ndarray, sr: int, concepts: list[Concept]) -> list[tuple[Concept, bool]]:
        if not concepts:
            return []
        scores = self.logits(audio, sr, [c.question for c in concepts])
        return [(c, bool(s[0] > s[1])) for c, s in zip(concepts, scores, strict=True)]


class QwenAudioJudge(AudioYesNoJudge):
    """Qwen2-Audio-Instruct as the judge."""

    default_model = "Qwen/Qwen2-Audio-7B-Instruct"

    def _load_processor(self, model: str, revision: str | None) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(model, revision=revision)

    def _load_model(self, model: str, revision: str | None, dtype: Any, device: str) -> Any:
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration.from_pretrained(model, revision=revision, dtype=dtype)


@cache
def _audio_only_qwen3_omni_classes() -> tuple[type, type]:
    """Qwen3-Omni's processor with its video slot filled by a stand-in.

    The processor insists on a video processor, and Qwen3-Omni's needs torchvision, which this project
    never installs; the judge sends no video, so a stand-in that refuses video is enough, and the
    audio and text path stays transformers' own.
    """
    from transformers import Qwen3OmniMoeProcessor
    from transformers.video_processing_utils import VideoProcessorMixin

    class NoVideoProcessor(VideoProcessorMixin):
        merge_size = 2
        temporal_patch_size = 2

        def preprocess(self, videos: Any, **kwargs: Any) -> Any:
            raise ValueError("the CCS judge's Qwen3-Omni processor takes audio and text only, not video")

    class AudioQwen3OmniProcessor(Qwen3OmniMoeProcessor):
        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and isinstance(argument, NoVideoProcessor):
                return NoVideoProcessor
            return super().check_argument_for_proper_class(argument_name, argument)

    return AudioQwen3OmniProcessor, NoVideoProcessor


def qwen3_omni_processor(feature_extractor: Any, tokenizer: Any, chat_template: str | None = None) -> Any:
    """A ``Qwen3OmniMoeProcessor`` for audio and text, built from its feature extractor and tokenizer.

    The image processor is a default one (never used, but the processor requires one); see
    :func:`_audio_only_qwen3_omni_classes` for the video slot.
    """
    from transformers import Qwen2VLImageProcessorPil

    processor_cls, no_video = _audio_only_qwen3_omni_classes()
    return processor_cls(
        image_processor=Qwen2VLImageProcessorPil(),
        video_processor=no_video(),
        feature_extractor=feature_extractor,
        tokenizer=tokenizer,
        chat_template=chat_template,
    )


class Qwen3OmniJudge(AudioYesNoJudge):
    """Qwen3-Omni-Instruct as the judge: only its thinker, since the talker (speech output) is not used."""

    default_model = "Qwen/Qwen3-Omni-30B-A3B-Instruct"

    def _load_processor(self, model: str, revision: str | None) -> Any:
        from transformers import AutoFeatureExtractor, AutoTokenizer

        processor_cls, _ = _audio_only_qwen3_omni_classes()
        # The chat template is in the processor's files (chat_template.json or .jinja), else the tokenizer's.
        settings, _ = processor_cls.get_processor_dict(model, revision=revision)
        tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        return qwen3_omni_processor(
            AutoFeatureExtractor.from_pretrained(model, revision=revision),
            tokenizer,
            settings.get("chat_template") or tokenizer.chat_template,
        )

    def _load_model(self, model: str, revision: str | None, dtype: Any, device: str) -> Any:
        """The thinker alone, from the full checkpoint.

        The checkpoint's thinker weights sit under ``thinker.``; transformers' conversion mapping for this
        class strips that prefix and ignores the talker's and code2wav's weights. The config is the
        full model's, so its ``thinker_config`` is taken explicitly.
        """
        from transformers import Qwen3OmniMoeConfig, Qwen3OmniMoeThinkerForConditionalGeneration

        config = Qwen3OmniMoeConfig.from_pretrained(model, revision=revision).thinker_config
        return Qwen3OmniMoeThinkerForConditionalGeneration.from_pretrained(
            model, config=config, revision=revision, dtype=dtype, device_map=device
        )


JUDGES: dict[str, type[AudioYesNoJudge]] = {
    "qwen2-audio-7b-instruct": QwenAudioJudge,
    "qwen3-omni-30b-a3b-instruct": Qwen3OmniJudge,
}


def judge_class(name: str) -> type[AudioYesNoJudge]:
    """The judge backend for a weights-registry name."""
    if name not in JUDGES:
        raise ValueError(f"no CCS judge named {name!r}; known judges: {', '.join(sorted(JUDGES))}")
    return JUDGES[name]


def load_judge(name: str, device: str = "cpu") -> AudioYesNoJudge:
    """The judge named in the weights registry, loaded from its local (verified) weights."""
    from s2acc.hub import resolve

    cls = judge_class(name)
    return cls(str(resolve(name)), device=device)
