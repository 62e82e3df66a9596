"""Concept Coverage Score: the share of each prompt's concepts an audio-language judge hears in its clip.

Each prompt carries M concepts (genre, instrument, mood), from the prompts CSV's columns or found in
its text by matching the MTG-Jamendo vocabulary. For each concept the judge hears the clip and is asked
one yes/no question; the concept counts as present when the logit of "Yes" exceeds the logit of "No"
at the first answer position (no sampling). CCS is the mean over prompts of K/M; prompts with no
concept are left out and counted in the report.

The judge is Qwen2-Audio-Instruct through transformers; the organisers used Qwen3-Omni, which a later
transformers release can serve through the same interface (a processor with a chat template and a
causal LM head).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


class QwenAudioJudge:
    """Yes/no questions about a clip, answered by comparing the "Yes" and "No" logits."""

    def __init__(
        self,
        model: str = "Qwen/Qwen2-Audio-7B-Instruct",
        device: str = "cpu",
        revision: str | None = None,
        model_obj: Any = None,
        processor_obj: Any = None,
    ) -> None:
        import torch

        self.device = device
        if model_obj is None or processor_obj is None:
            from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            processor_obj = processor_obj or AutoProcessor.from_pretrained(model, revision=revision)
            model_obj = model_obj or Qwen2AudioForConditionalGeneration.from_pretrained(
                model, revision=revision, dtype=dtype
            )
        self.model, self.processor = model_obj.to(device).eval(), processor_obj
        self.processor.tokenizer.padding_side = "left"  # the answer position is the last one in every row
        self.yes, self.no = (self._token(w) for w in ("Yes", "No"))

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
