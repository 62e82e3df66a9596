"""CCS with Qwen3-Omni as the judge (a random-weight thinker), and picking the judge by registry name."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_qwen3_omni import CORPUS, build_model, build_processor, save_checkpoint

from eval.ccs import Concept, Qwen3OmniJudge, QwenAudioJudge, judge_class, load_judge
from s2acc.hub import WeightsMissingError

JUDGE_CORPUS = [*CORPUS, "Yes. No. Answer Yes or No. Is this music in the rock genre? Can you hear piano?"]
CONCEPTS = [Concept("genre", "rock"), Concept("instrument", "piano"), Concept("mood", "happy")]


@pytest.fixture(scope="module")
def parts():
    processor = build_processor(JUDGE_CORPUS)
    return build_model(processor.tokenizer, seed=1), processor


@pytest.fixture(scope="module")
def judge(parts):
    model, processor = parts
    return Qwen3OmniJudge(model_obj=model, processor_obj=processor)


def clip(seed: int = 0) -> np.ndarray:
    """2 s of stereo noise at 44.1 kHz, as the generated clips come."""
    return (0.2 * np.random.default_rng(seed).standard_normal((2, 2 * 44100))).astype(np.float32)


def test_qwen3_judge_compares_yes_and_no_logits_at_the_answer_position(judge):
    audio = clip()
    questions = [c.question for c in CONCEPTS]
    logits = judge.logits(audio, 44100, questions)
    assert logits.shape == (3, 2) and np.all(np.isfinite(logits))
    verdicts = judge.judge(audio, 44100, CONCEPTS)
    assert [v for _, v in verdicts] == [bool(a > b) for a, b in logits]
    # Questions of different lengths are left-padded in the batch; each alone gives the same logits.
    tok = judge.processor.tokenizer
    assert len({len(tok.encode(q)) for q in questions}) > 1
    for question, row in zip(questions, logits, strict=True):
        np.testing.assert_allclose(judge.logits(audio, 44100, [question])[0], row, atol=1e-4)
    assert tok.decode([judge.yes]) == "Yes" and tok.decode([judge.no]) == "No"
    assert judge.judge(audio, 44100, []) == []


def test_qwen3_judge_prompt_holds_the_clip_as_audio_tokens(judge):
    processor = judge.processor
    text = processor.apply_chat_template(
        [
            {
                "role": "user",
                "content": [{"type": "audio", "audio_url": "clip"}, {"type": "text", "text": "Hi?"}],
            }
        ],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert (
        text
        == "<|im_start|>user\n<|audio_start|><|audio_pad|><|audio_end|>Hi?<|im_end|>\n<|im_start|>assistant\n"
    )
    # 2 s at 16 kHz: 200 mel frames, two 100-frame windows of 13 encoder outputs each.
    inputs = processor(
        text=[text], audio=[np.zeros(32000, np.float32)], sampling_rate=16000, return_tensors="pt"
    )
    assert inputs["input_features"].shape == (1, 128, 200)
    assert int((inputs["input_ids"] == processor.audio_token_id).sum()) == 26
    # The judge hears the clip: a tone instead of noise moves the logits.
    t = np.arange(2 * 44100) / 44100
    tone = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    noise, heard = (judge.logits(a, 44100, [CONCEPTS[0].question])[0] for a in (clip(), tone))
    assert np.abs(noise - heard).max() > 1e-2


def test_load_judge_loads_the_thinker_alone_from_the_full_checkpoint(parts, judge, tmp_path, monkeypatch):
    from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

    model, processor = parts
    save_checkpoint(model, processor, tmp_path / "qwen3-omni-30b-a3b-instruct")
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path))
    loaded = load_judge("qwen3-omni-30b-a3b-instruct", device="cpu")
    assert type(loaded) is Qwen3OmniJudge
    assert type(loaded.model) is Qwen3OmniMoeThinkerForConditionalGeneration
    assert loaded.processor.chat_template == processor.chat_template
    assert (loaded.yes, loaded.no) == (judge.yes, judge.no)
    audio = clip()
    questions = [c.question for c in CONCEPTS]
    np.testing.assert_allclose(
        loaded.logits(audio, 44100, questions), judge.logits(audio, 44100, questions), atol=1e-5
    )


def test_judges_are_picked_by_registry_name(tmp_path, monkeypatch):
    assert judge_class("qwen2-audio-7b-instruct") is QwenAudioJudge
    assert judge_class("qwen3-omni-30b-a3b-instruct") is Qwen3OmniJudge
    with pytest.raises(ValueError, match="qwen2-audio-7b-instruct, qwen3-omni-30b-a3b-instruct"):
        load_judge("clap-laion-music")
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path / "empty"))
    with pytest.raises(WeightsMissingError, match="qwen2-audio-7b-instruct"):  # resolved, never downloaded
        load_judge("qwen2-audio-7b-instruct")
