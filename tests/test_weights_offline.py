"""Every backend that loads pretrained weights does so through the weights registry: with an empty
cache and the hub offline, each fails with the registry's "not found" message naming its entry, never
with a hub or network error."""

from __future__ import annotations

import pytest

from s2acc.hub import WeightsMissingError


def _separation():
    from data_pipeline.separation import make_separator

    return make_separator("htdemucs")


def _captioning():
    from data_pipeline.captioning import make_captioner

    return make_captioner("qwen2-audio")


def _aesthetics():
    from data_pipeline.grading import make_aesthetics

    return make_aesthetics("audiobox-aesthetics")


def _alignment(name):
    from data_pipeline.grading import make_alignment

    return lambda: make_alignment(name)


def _text_encoder(name):
    from s2acc.dit.text import make_text_encoder

    return lambda: make_text_encoder(name)


def _vae(name):
    from s2acc.vae import open_vae

    return lambda: open_vae(name)


def _judge(name):
    from eval.ccs import load_judge

    return lambda: load_judge(name)


def _fad_embedder():
    from eval.embedders import make_embedder

    return make_embedder("clap-laion-music")


CASES = [
    ("separation: htdemucs", _separation, ["htdemucs"]),
    ("captioning: qwen2-audio", _captioning, ["qwen2-audio-7b-instruct"]),
    ("grading: audiobox-aesthetics", _aesthetics, ["audiobox-aesthetics"]),
    ("grading: laion-clap", _alignment("laion-clap"), ["clap-laion-music", "roberta-base"]),
    (
        "grading: muq-mulan",
        _alignment("muq-mulan"),
        ["muq-mulan-large", "muq-large-msd-iter", "xlm-roberta-base"],
    ),
    ("text encoder: clap", _text_encoder("clap"), ["clap-laion-music", "roberta-base"]),
    ("text encoder: flan-t5", _text_encoder("flan-t5"), ["flan-t5-large"]),
    (
        "text encoder: muq-mulan",
        _text_encoder("muq-mulan"),
        ["muq-mulan-large", "muq-large-msd-iter", "xlm-roberta-base"],
    ),
    ("VAE init: stable-audio-open-vae", _vae("stable-audio-open-vae"), ["stable-audio-open-vae"]),
    ("VAE init: diffrhythm-vae", _vae("diffrhythm-vae"), ["diffrhythm-vae"]),
    ("CCS judge: qwen3-omni", _judge("qwen3-omni-30b-a3b-instruct"), ["qwen3-omni-30b-a3b-instruct"]),
    ("CCS judge: qwen2-audio", _judge("qwen2-audio-7b-instruct"), ["qwen2-audio-7b-instruct"]),
    ("FAD embedder: clap-laion-music", _fad_embedder, ["clap-laion-music", "roberta-base"]),
]


@pytest.mark.parametrize("label,build,entries", CASES, ids=[c[0] for c in CASES])
def test_a_backend_with_an_empty_cache_names_its_missing_registry_entries(
    label, build, entries, tmp_path, monkeypatch
):
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as info:
        build()
    message = str(info.value)
    for entry in entries:
        assert f"'{entry}'" in message, (label, message)
    assert str(tmp_path / "empty-cache") in message
