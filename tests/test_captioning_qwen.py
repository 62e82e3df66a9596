"""The Qwen2-Audio captioner on a random-weight model of the real architecture, built offline.

The processor is the real ``Qwen2AudioProcessor``: a Whisper feature extractor (128 mel bins, as
Qwen2-Audio's), a byte-level BPE tokenizer trained here with Qwen's special tokens, and a chat template
that renders turns the way Qwen2-Audio-Instruct's does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_qwen2_audio import CORPUS, build_model, build_processor

from data_pipeline.captioning import (
    QWEN_INSTRUCTION,
    QWEN_SR,
    QWEN_TEMPLATE_VERSION,
    CaptionItem,
    Qwen2AudioCaptioner,
    clean_answer,
    make_captioner,
    qwen_prompt,
)


@pytest.fixture(scope="module")
def parts():
    processor = build_processor([QWEN_INSTRUCTION, *CORPUS])
    return build_model(processor.tokenizer), processor


@pytest.fixture
def captioner(parts):
    model, processor = parts
    return Qwen2AudioCaptioner(model_obj=model, processor_obj=processor, max_new_tokens=8)


class _InputRecorder:
    """Keeps the keyword inputs of every forward call of a module (generation's prefill comes first)."""

    def __init__(self, module: torch.nn.Module):
        self.calls: list[dict] = []
        self.handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.calls.append({k: v.clone() for k, v in kwargs.items() if isinstance(v, torch.Tensor)})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def _tone(seconds: float, sr: int, freqs=(220.0, 330.0), channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs)
    return np.repeat(mono[None], channels, axis=0).astype(np.float32)


def _audio_frames(n_samples: int) -> int:
    """Whisper frames (10 ms hop) and the encoder's output length, as Qwen2-Audio counts them."""
    frames = n_samples // 160
    return (((frames - 1) // 2 + 1) - 2) // 2 + 1


# ----------------------------------------------------------------------------------- prompts


def test_prompt_carries_role_and_tag_hints():
    item = CaptionItem(
        "t1/s2",
        np.zeros((1, 10)),
        QWEN_SR,
        "inst",
        tags={"genre": ["poprock"], "instrument": ["guitar", "electricpiano"], "mood": ["happy"]},
    )
    prompt = qwen_prompt(item)
    assert "that it is the instrumental passage of the song" in prompt
    assert "genre: pop rock; instruments: guitar, electric piano; mood: happy" in prompt
    assert "use these where you hear them" in prompt
    plain = qwen_prompt(CaptionItem("t1/s3", np.zeros((1, 10)), QWEN_SR, "chorus"))
    assert "the chorus of the song" in plain and "tagged" not in plain
    assert plain.endswith("Write only the caption.")


def test_clean_answer():
    assert clean_answer('Caption: "A bright pop song."') == "A bright pop song."
    assert clean_answer("  description :  Calm piano\n  with strings.\n\nI hope this helps!") == (
        "Calm piano with strings."
    )
    assert clean_answer('"Upbeat   rock"') == "Upbeat rock"
    assert clean_answer("Captions are fun") == "Captions are fun"


def test_chat_turn_matches_qwen2_audio_instruct(captioner):
    item = CaptionItem("t1/s0", _tone(1.0, QWEN_SR), QWEN_SR, "verse", tags={"genre": ["jazz"]})
    text = captioner.processor.apply_chat_template(
        captioner._conversation(item), add_generation_prompt=True, tokenize=False
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nAudio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
        f"{qwen_prompt(item)}<|im_end|>\n<|im_start|>assistant\n"
    )
    # The same text as transformers' own Qwen2-Audio template, where this version still ships one.
    reference = getattr(captioner.processor, "default_chat_template", None)
    if reference is not None:
        assert text == captioner.processor.apply_chat_template(
            captioner._conversation(item), chat_template=reference, add_generation_prompt=True, tokenize=False
        )


# ---------------------------------------------------------------------------------- captioning


def test_captions_one_result_per_item_in_order(captioner, parts):
    model, processor = parts
    rng = np.random.default_rng(0)
    items = [
        CaptionItem("a", _tone(2.0, QWEN_SR), QWEN_SR, "verse", tags={"genre": ["rock"]}),
        CaptionItem("b", (0.2 * rng.standard_normal((1, 5 * QWEN_SR))).astype(np.float32), QWEN_SR, "chorus"),
        CaptionItem("c", _tone(3.5, QWEN_SR, freqs=(110.0,)), QWEN_SR, "outro"),
    ]
    with _InputRecorder(model) as rec:
        results = captioner.caption(items)
    assert len(results) == 3
    for res in results:
        assert isinstance(res.caption, str) and isinstance(res.raw, str) and res.raw.strip()
        assert res.caption == clean_answer(res.raw)
        assert res.template_version == QWEN_TEMPLATE_VERSION and res.backend == "qwen2-audio"
    # One generation: the prefill sees the whole batch with its audio, then one token per step.
    prefill = rec.calls[0]
    lengths = [item.audio.shape[-1] for item in items]
    assert prefill["input_features"].shape == (3, 128, 3000)  # 30 s Whisper windows
    assert prefill["feature_attention_mask"].sum(-1).tolist() == [n // 160 for n in lengths]
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    counts = (prefill["input_ids"] == audio_id).sum(-1).tolist()
    assert counts == [_audio_frames(n) for n in lengths]
    # Left padding: every row ends on the prompt's last token, shorter rows start with padding.
    mask = prefill["attention_mask"]
    assert mask[:, -1].all() and mask[0, 0] == 0 and mask[2, 0] == 0 and mask[1].all()
    assert 2 <= len(rec.calls) <= 1 + captioner.max_new_tokens
    assert captioner.caption([]) == []


def test_batch_gives_the_answers_of_single_items(captioner):
    rng = np.random.default_rng(1)
    items = [
        CaptionItem("a", _tone(1.5, QWEN_SR), QWEN_SR, "intro"),
        CaptionItem("b", (0.3 * rng.standard_normal((2, 6 * QWEN_SR))).astype(np.float32), QWEN_SR, "bridge"),
    ]
    batched = captioner.caption(items)
    alone = [captioner.caption([item])[0] for item in items]
    assert [r.raw for r in batched] == [r.raw for r in alone]


def test_audio_reaches_the_model(captioner):
    """Same prompt, different sound: the answers differ (greedy decoding is otherwise fixed)."""
    rng = np.random.default_rng(2)
    noise = (0.3 * rng.standard_normal((1, 2 * QWEN_SR))).astype(np.float32)
    tone = _tone(2.0, QWEN_SR)
    first, second = captioner.caption(
        [CaptionItem("x", tone, QWEN_SR, "verse"), CaptionItem("y", noise, QWEN_SR, "verse")]
    )
    assert first.raw != second.raw


def test_stereo_44k_is_downmixed_and_resampled(captioner, parts):
    model, _ = parts
    stereo = _tone(2.0, 44100, channels=2)
    stereo[1] *= 0.5
    mono16 = 0.75 * _tone(2.0, QWEN_SR)  # the same mix, made at the model's rate
    with _InputRecorder(model) as rec:
        from_44k = captioner.caption([CaptionItem("s", stereo, 44100, "verse")])[0]
    frames = rec.calls[0]["feature_attention_mask"].sum(-1).tolist()
    assert frames == [2 * QWEN_SR // 160]  # 2 s at 16 kHz, not 88200 samples read as 16 kHz
    from_16k = captioner.caption([CaptionItem("m", mono16, QWEN_SR, "verse")])[0]
    assert from_44k.raw == from_16k.raw
    # Longer than Whisper's 30 s window: cut to 30 s rather than refused.
    with _InputRecorder(model) as rec:
        captioner.caption([CaptionItem("l", _tone(31.0, 8000), 8000, "verse")])
    assert rec.calls[0]["feature_attention_mask"].sum(-1).tolist() == [3000]


def test_bfloat16_model(parts):
    model, processor = parts
    half = build_model(processor.tokenizer).to(torch.bfloat16)
    captioner = Qwen2AudioCaptioner(model_obj=half, processor_obj=processor, max_new_tokens=4)
    with _InputRecorder(half) as rec:
        (result,) = captioner.caption([CaptionItem("h", _tone(1.0, 22050), 22050, "chorus")])
    assert rec.calls[0]["input_features"].dtype == torch.bfloat16
    assert isinstance(result.caption, str) and result.backend == "qwen2-audio"


def test_processor_read_from_a_local_folder(tmp_path, parts):
    """A model object with the processor from a snapshot folder: only the missing part is loaded."""
    model, processor = parts
    processor.save_pretrained(tmp_path)
    captioner = Qwen2AudioCaptioner(model=str(tmp_path), model_obj=model, max_new_tokens=8)
    assert captioner.model is model
    assert type(captioner.processor) is type(processor)
    item = CaptionItem("a", _tone(1.0, QWEN_SR), QWEN_SR, "verse")
    reference = Qwen2AudioCaptioner(model_obj=model, processor_obj=processor, max_new_tokens=8)
    assert captioner.caption([item])[0].raw == reference.caption([item])[0].raw


def test_make_captioner_builds_qwen(parts):
    model, processor = parts
    captioner = make_captioner("qwen2-audio", model_obj=model, processor_obj=processor, max_new_tokens=3)
    assert isinstance(captioner, Qwen2AudioCaptioner) and captioner.max_new_tokens == 3
    assert captioner.processor.tokenizer.padding_side == "left"
