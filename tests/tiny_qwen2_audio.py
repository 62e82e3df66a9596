"""A random-weight Qwen2-Audio of the real architecture and its real processor, built offline for tests.

The processor is the real ``Qwen2AudioProcessor``: a Whisper feature extractor (128 mel bins, as
Qwen2-Audio's), a byte-level BPE tokenizer trained here with Qwen's special tokens, and a chat template
that renders turns the way Qwen2-Audio-Instruct's does.
"""

from __future__ import annotations

import torch

QWEN_SR = 16000

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
]

# Qwen2-Audio-Instruct's turn layout: a default system turn, then each audio part as a numbered
# "Audio N:" line holding one <|AUDIO|> placeholder, which the processor expands to one token per
# encoder output frame. (Jinja here runs with trim_blocks, so no newline directly follows a tag.)
CHAT_TEMPLATE = (
    "{% set ns = namespace(audio=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part or 'audio_url' in part %}"
    "{% set ns.audio = ns.audio + 1 %}"
    "Audio {{ ns.audio }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in part %}"
    "{{ part['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% endif %}"
)

CORPUS = [
    "An upbeat pop rock track with electric guitar, bass and drums; the mood is happy and energetic.",
    "A calm piano piece at a slow tempo, with soft strings and a melancholic mood.",
    "You are a helpful assistant. The track is tagged with genre: jazz; instruments: saxophone.",
    "Audio 1: a bright synth-pop chorus with a driving beat, at about 120 BPM.",
]


def train_bpe(corpus: list[str], special_tokens: list[str]):
    """A byte-level BPE (Qwen's kind) trained on ``corpus``: words seen often enough get one token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(list(corpus) * 4, trainer)
    return bpe


def build_processor(corpus: list[str] = CORPUS):
    from transformers import PreTrainedTokenizerFast, Qwen2AudioProcessor, WhisperFeatureExtractor

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(corpus, SPECIAL_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="right",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=QWEN_SR)
    return Qwen2AudioProcessor(feature_extractor=extractor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def build_model(tokenizer, seed: int = 0):
    """Qwen2-Audio with a 2-layer, 16-wide Whisper-style encoder (128 mel bins, 30 s windows) and a
    2-layer, 32-wide Qwen2 decoder; the projector is scaled up so the audio visibly steers the text."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    config = Qwen2AudioConfig(
        audio_config={
            "d_model": 16,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "num_mel_bins": 128,
            "max_source_positions": 1500,
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
        },
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.model.multi_modal_projector.linear.weight.normal_(0.0, 1.0)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
