"""A random-weight Qwen3-Omni thinker of the real architecture and its real processor, built offline.

The processor is transformers' ``Qwen3OmniMoeProcessor`` (through the judge's audio-only subclass):
a Whisper feature extractor configured as Qwen3-Omni's (128 mel bins at 16 kHz, 300 s windows), a
byte-level BPE tokenizer trained here with Qwen3-Omni's special tokens (named the way the processor
looks them up), and a chat template that renders turns the way Qwen3-Omni-Instruct's does. The thinker
has the real layout (Whisper-style audio encoder, vision encoder, MoE text decoder with M-RoPE) at
toy widths; :func:`save_checkpoint` writes it the way the hub checkpoint stores it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tiny_qwen2_audio import CORPUS, train_bpe

QWEN3_SR = 16000

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

ROLES = ["system", "user", "assistant"]

# The processor reads its placeholders from these tokenizer attributes (the hub's tokenizer_config.json
# names them the same way).
MODALITY_TOKENS = {
    "audio_token": "<|audio_pad|>",
    "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>",
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}

# Qwen3-Omni-Instruct's turn layout: no default system turn, and each audio part rendered as one
# <|audio_pad|> between <|audio_start|> and <|audio_end|>, which the processor expands to one token per
# encoder output frame. (Jinja here runs with trim_blocks, so no newline directly follows a tag.)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' or 'audio' in part or 'audio_url' in part %}"
    "<|audio_start|><|audio_pad|><|audio_end|>"
    "{% elif part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
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


def build_processor(corpus: list[str] = CORPUS):
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    from eval.ccs import qwen3_omni_processor

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(corpus, SPECIAL_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=MODALITY_TOKENS,
    )
    tokenizer.add_tokens(ROLES)  # one token each, as in Qwen's vocabulary (the config names the user's)
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=QWEN3_SR, chunk_length=300)
    return qwen3_omni_processor(extractor, tokenizer, CHAT_TEMPLATE)


def build_model(tokenizer, seed: int = 0):
    """A Qwen3-Omni thinker with a 2-layer, 16-wide audio encoder (128 mel bins, 100-frame windows as
    the processor assumes), a 1-block vision encoder, and a 2-layer, 32-wide MoE decoder (4 experts, 2
    per token). At the default init the audio encoder's convolutions pass almost nothing beyond the
    positional embedding, so they and its output projection are scaled up: the clip's content, not only
    its length, then visibly steers the text."""
    from transformers import Qwen3OmniMoeThinkerConfig, Qwen3OmniMoeThinkerForConditionalGeneration

    ids = tokenizer.convert_tokens_to_ids
    config = Qwen3OmniMoeThinkerConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "moe_intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "max_position_embeddings": 4096,
            # As the real config's, with the sections scaled to head_dim / 2.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [2, 1, 1],
                "interleaved": True,
                "mrope_interleaved": True,
            },
        },
        audio_config={
            "d_model": 16,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "num_mel_bins": 128,
            "output_dim": 32,
            "n_window": 50,  # the processor sizes the placeholders for this window whatever the config says
            "n_window_infer": 800,
            "conv_chunksize": 500,
            "downsample_hidden_size": 8,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": 32,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [],
        },
        audio_token_id=ids("<|audio_pad|>"),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        audio_start_token_id=ids("<|audio_start|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        user_token_id=ids("user"),
        position_id_per_seconds=13,
    )
    torch.manual_seed(seed)
    model = Qwen3OmniMoeThinkerForConditionalGeneration(config).eval()
    with torch.no_grad():
        tower = model.model.audio_tower
        for conv in (tower.conv2d1, tower.conv2d2, tower.conv2d3):
            conv.weight.normal_(0.0, 0.3)
        tower.conv_out.weight.normal_(0.0, 1.0)
        tower.proj2.weight.normal_(0.0, 1.0)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_checkpoint(model, processor, folder: Path) -> Path:
    """The thinker as a full Qwen3-Omni checkpoint folder, laid out as the hub's.

    The hub checkpoint is the whole model (thinker, talker, code2wav) with the full model's config; its
    thinker weights are the transformers 4.57 names (per-expert MoE weights) under ``thinker.``, in
    shards named by ``model.safetensors.index.json``. A
    talker and a code2wav weight are included so loading the thinker alone has something to skip.
    """
    from safetensors.torch import load_file, save_file
    from transformers import Qwen3OmniMoeConfig

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # transformers writes the 4.57 names, without the thinker prefix
    weights = {f"thinker.{k}": v for k, v in load_file(folder / "model.safetensors").items()}
    weights["talker.model.norm.weight"] = torch.ones(4)
    weights["code2wav.pre_transformer.norm.weight"] = torch.ones(4)
    (folder / "model.safetensors").unlink()
    names = sorted(weights)  # two shards and their index, as the hub stores the 30B model
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in shards.items():
        save_file({k: weights[k] for k in keys}, folder / shard, metadata={"format": "pt"})
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    Qwen3OmniMoeConfig(thinker_config=model.config.to_dict(), enable_audio_output=True).save_pretrained(
        folder
    )
    processor.tokenizer.save_pretrained(folder)
    processor.feature_extractor.save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": processor.chat_template}))
    return folder
