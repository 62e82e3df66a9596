from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from s2acc.config import (
    ConfigError,
    apply_overrides,
    config_hash,
    load_config,
    save_config,
    to_dict,
)


@dataclass
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    schedule: Literal["cosine", "constant"] = "cosine"


@dataclass
class Toy:
    KIND = "toy"
    name: str = "run"
    steps: int = 10
    mixed: bool = False
    out: Path = Path("runs/toy")
    seed: int | None = None
    stages: list[str] = field(default_factory=lambda: ["a", "b"])
    optim: Optim = field(default_factory=Optim)


def write(tmp_path, text):
    p = tmp_path / "toy.yaml"
    p.write_text(text)
    return p


def test_defaults_file_then_overrides(tmp_path):
    p = write(tmp_path, "kind: toy\nsteps: 20\noptim:\n  lr: 0.001\n")
    cfg = load_config(Toy, p, ["steps=30", "optim.schedule=constant", "stages=[x, y, z]", "mixed=true"])
    assert cfg.steps == 30
    assert cfg.optim.lr == 0.001 and cfg.optim.schedule == "constant"
    assert cfg.optim.betas == (0.9, 0.99)
    assert cfg.stages == ["x", "y", "z"]
    assert cfg.mixed is True
    assert cfg.out == Path("runs/toy")


def test_string_fields_take_text_verbatim():
    cfg = load_config(Toy, None, ["name=123", "out=/tmp/a b", "seed=7"])
    assert cfg.name == "123" and cfg.out == Path("/tmp/a b") and cfg.seed == 7
    assert load_config(Toy, None, ["seed=null"]).seed is None


def test_int_accepted_for_float_but_not_the_reverse():
    assert load_config(Toy, None, ["optim.lr=1"]).optim.lr == 1.0
    with pytest.raises(ConfigError, match=r"steps: expected int, got float 2\.5"):
        load_config(Toy, None, ["steps=2.5"])


def test_exponent_floats_without_a_dot_are_floats(tmp_path):
    # YAML 1.1 reads 1e-2 as a string; a float field takes it as the number it spells
    assert load_config(Toy, None, ["optim.lr=1e-2"]).optim.lr == 0.01
    assert load_config(Toy, write(tmp_path, "optim:\n  lr: 3e-4\n"), []).optim.lr == 3e-4
    with pytest.raises(ConfigError, match=r"optim.lr: expected float, got str 'fast'"):
        load_config(Toy, None, ["optim.lr=fast"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("steps=many", r"steps: expected int, got str 'many'"),
        ("mixed=3", r"mixed: expected bool"),
        ("optim.schedule=linear", r"optim.schedule: expected one of \['cosine', 'constant'\]"),
        ("optim.betas=[0.9]", r"optim.betas: expected 2 items"),
        ("stepz=3", r"unknown key stepz \(did you mean steps\?\)"),
        ("optim.lrr=3", r"unknown key optim.lrr \(did you mean optim.lr\?\)"),
        ("steps.x=3", r"steps is not a section"),
        ("steps", r"not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key_and_reason(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Toy, None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Toy, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Toy, write(tmp_path, "steps: [1,\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Toy, write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match=r"toy.yaml: steps: expected int"):
        load_config(Toy, write(tmp_path, "steps: ten\n"))
    with pytest.raises(ConfigError, match=r"is a 'vae' config, expected 'toy'"):
        load_config(Toy, write(tmp_path, "kind: vae\n"))


def test_hash_is_stable_and_sensitive():
    a, b = load_config(Toy), load_config(Toy)
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 10
    assert config_hash(load_config(Toy, None, ["steps=11"])) != config_hash(a)


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(Toy, None, ["steps=42", "optim.lr=0.5"])
    path = save_config(cfg, tmp_path / "out")
    saved = yaml.safe_load(path.read_text())
    assert saved["kind"] == "toy" and saved["hash"] == config_hash(cfg)
    again = load_config(Toy, path)
    assert again == cfg
    assert to_dict(again)["out"] == "runs/toy"


def test_overrides_do_not_mutate_input():
    data = {"steps": 1}
    apply_overrides(Toy, data, ["steps=2"])
    assert data == {"steps": 1}


def test_registered_kind_resolves_by_file(tmp_path):
    p = write(tmp_path, "kind: synth\nseed: 3\n")
    cfg = load_config(None, p)
    assert type(cfg).__name__ == "SynthConfig" and cfg.seed == 3
    with pytest.raises(ConfigError, match="unknown config kind 'nonsense'"):
        load_config(None, write(tmp_path, "kind: nonsense\n"))
