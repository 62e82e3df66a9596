"""CCS: concepts from prompts, the arithmetic, and the yes/no judge on a random-weight Qwen2-Audio."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_qwen2_audio import CORPUS, build_model, build_processor

from eval.ccs import Concept, QwenAudioJudge, ccs, concepts_for, extract_concepts

JUDGE_CORPUS = [*CORPUS, "Yes. No. Answer Yes or No. Is this music in the rock genre? Can you hear piano?"]


def test_concepts_come_from_columns_or_from_the_text():
    row = {"prompt": "whatever", "genre": "rock", "instrument": "electricguitar|drums", "mood": "energetic"}
    assert concepts_for(row) == [
        Concept("genre", "rock"),
        Concept("instrument", "electricguitar"),
        Concept("instrument", "drums"),
        Concept("mood", "energetic"),
    ]
    text = "An energetic rock track driven by a bold electric guitar, pulsing with intensity and raw power."
    found = concepts_for({"prompt": text})
    assert Concept("genre", "rock") in found and Concept("instrument", "electricguitar") in found
    assert Concept("mood", "energetic") in found and Concept("mood", "powerful") not in found
    assert Concept("instrument", "guitar") not in found  # "electric guitar" is one concept, not two
    assert extract_concepts("electric piano and acoustic guitar") == [  # vocabulary (frequency) order
        Concept("instrument", "acousticguitar"),
        Concept("instrument", "electricpiano"),
    ]
    assert extract_concepts("A mellow jazz piece featuring soothing piano melodies, calm and relaxed.") == [
        Concept("genre", "jazz"),
        Concept("instrument", "piano"),
        Concept("mood", "calm"),
    ]
    assert (
        Concept("instrument", "electricguitar").question
        == "Can you hear electric guitar in this music? Answer Yes or No."
    )


def test_ccs_is_the_mean_of_per_prompt_coverage():
    g, i, m = Concept("genre", "rock"), Concept("instrument", "piano"), Concept("mood", "sad")
    result = ccs([[(g, True), (i, False), (m, True)], [(g, True), (i, True)], []])
    assert result.per_prompt == [pytest.approx(2 / 3), 1.0, None]
    assert result.score == pytest.approx((2 / 3 + 1.0) / 2)
    assert result.by_category == {"genre": 1.0, "instrument": 0.5, "mood": 1.0}
    assert ccs([[], []]).score is None


@pytest.fixture(scope="module")
def judge():
    processor = build_processor(JUDGE_CORPUS)
    return QwenAudioJudge(model_obj=build_model(processor.tokenizer, seed=1), processor_obj=processor)


def test_judge_compares_yes_and_no_logits_at_the_answer_position(judge):
    rng = np.random.default_rng(0)
    clip = (0.2 * rng.standard_normal((2, 44100 * 2))).astype(np.float32)
    concepts = [Concept("genre", "rock"), Concept("instrument", "piano"), Concept("mood", "happy")]
    logits = judge.logits(clip, 44100, [c.question for c in concepts])
    assert logits.shape == (3, 2) and np.all(np.isfinite(logits))
    verdicts = judge.judge(clip, 44100, concepts)
    assert [v for _, v in verdicts] == [bool(a > b) for a, b in logits]
    # The same computation by hand for the first question, without padding.
    single = judge.logits(clip, 44100, [concepts[0].question])
    np.testing.assert_allclose(single[0], logits[0], atol=1e-4)
    tok = judge.processor.tokenizer
    assert tok.decode([judge.yes]) == "Yes" and tok.decode([judge.no]) == "No"
    assert judge.judge(clip, 44100, []) == []


def test_judge_needs_single_token_answers():
    processor = build_processor(CORPUS)  # no "Yes"/"No" merges: the words split into pieces
    with pytest.raises(RuntimeError, match="splits 'Yes'"):
        QwenAudioJudge(model_obj=build_model(processor.tokenizer), processor_obj=processor)
