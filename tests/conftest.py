"""Shared test set-up: offline, CPU, deterministic."""

import json
import os

import pytest

# Tests never touch the network, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _byte_level_tokenizer(folder):
    """A real byte-level BPE tokenizer (RoBERTa's format) with a tiny merge table."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import RobertaTokenizer

    tokens = ["<s>", "<pad>", "</s>", "<unk>", *sorted(ByteLevel.alphabet())]
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "Ġ p", "o n"]
    tokens += [a + b for a, b in (m.split() for m in merges)] + ["<mask>"]
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return RobertaTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="session")
def clap_model(tmp_path_factory):
    """laion_clap's HTSAT-base audio tower at full size, RoBERTa text tower cut to one layer."""
    import torch
    from transformers import RobertaConfig

    tokenizer = _byte_level_tokenizer(tmp_path_factory.mktemp("tok"))
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=768,  # laion_clap's text projection expects 768
        num_hidden_layers=1,
        num_attention_heads=12,
        intermediate_size=128,
        max_position_embeddings=80,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    from s2acc.clap import build_clap_module

    return build_clap_module(config, tokenizer)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory):
    """Three short synthetic tracks (WAV, no defects) with their truth and captions."""
    from s2acc.synth.corpus import SynthConfig, generate_corpus

    corpus = tmp_path_factory.mktemp("vae_corpus")
    generate_corpus(
        SynthConfig(seed=5, n_tracks=3, min_seconds=14, max_seconds=16, format="wav", defects=0.0),
        corpus,
        progress=False,
        workers=1,
    )
    return corpus


@pytest.fixture(scope="session")
def graded_dataset(synth_corpus, tmp_path_factory):
    """A finished dataset folder (the real pipeline, offline backends) from three short synthetic
    tracks: what the VAE's training, evaluation and encode stage read."""
    from data_pipeline.config import DataConfig
    from data_pipeline.pipeline import run_pipeline
    from s2acc.config import from_dict

    corpus = synth_corpus
    out = tmp_path_factory.mktemp("vae_dataset")
    cfg = {
        "out": str(out),
        "input": {"root": str(corpus), "tags_table": str(corpus / "truth.parquet")},
        "leadsheet": {"backend": "librosa"},
        "segment": {"min_seconds": 4.0, "max_seconds": 8.0},
        "select": {"fraction": 0.5, "val_fraction": 0.34, "seed": 1},
    }
    run_pipeline(from_dict(DataConfig, cfg), progress=False)
    return out


@pytest.fixture(scope="session")
def encoded_dataset(graded_dataset, tmp_path_factory):
    """``graded_dataset`` after the encode stage, with the tiny VAE: DiT training data."""
    import shutil

    from data_pipeline.config import DataConfig
    from data_pipeline.pipeline import run_pipeline
    from s2acc.config import load_config

    out = tmp_path_factory.mktemp("encoded") / "dataset"
    shutil.copytree(graded_dataset, out)
    cfg = load_config(DataConfig, out / "config.yaml", [f"out={out}", "encode.vae=tiny"])
    run_pipeline(cfg, ["encode"], progress=False)
    return out
