import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from s2acc.cli import main
from s2acc.config import config_hash, load_config


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_help_lists_the_commands():
    exe = Path(sys.executable).with_name("s2acc")
    assert exe.is_file(), "the s2acc console script is not installed next to the interpreter"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("synth", "weights", "config", "doctor"):
        assert command in out
    out = subprocess.run([exe, "weights", "--help"], capture_output=True, text=True, check=True).stdout
    assert "S2ACC_WEIGHTS" in out and "fetch" in out


def test_config_show_resolves_overrides_and_prints_the_hash(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("kind: synth\nseed: 5\n")
    code, out, _ = run(capsys, "config", "show", str(path), "seed=9")
    assert code == 0
    shown = yaml.safe_load(out)
    assert shown["kind"] == "synth" and shown["seed"] == 9
    assert shown["hash"] == config_hash(load_config(None, path, ["seed=9"]))


def test_config_errors_exit_2_with_the_reason(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("kind: synth\n")
    code, _, err = run(capsys, "config", "show", str(path), "seed=abc")
    assert code == 2 and "seed: expected int, got str 'abc'" in err
    code, _, err = run(capsys, "config", "show", str(tmp_path / "none.yaml"))
    assert code == 2 and "does not exist" in err


def test_config_kinds_lists_synth(capsys):
    code, out, _ = run(capsys, "config", "kinds")
    assert code == 0 and "synth" in out and "SynthConfig" in out


@pytest.fixture
def registry(tmp_path, monkeypatch):
    payload = b"weights" * 100
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    reg = tmp_path / "reg.yaml"
    reg.write_text(
        yaml.safe_dump(
            {
                "weights": {
                    "good": {
                        "description": "d",
                        "used_by": "u",
                        "url": src.as_uri(),
                        "sha256": hashlib.sha256(payload).hexdigest(),
                    },
                    "hub": {"description": "d", "used_by": "u", "repo": "org/m", "filename": "w.pt"},
                }
            }
        )
    )
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path / "cache"))
    return reg


def test_weights_list_fetch_verify(capsys, registry, tmp_path):
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["good"]["status"] == "missing" and rows["hub"]["source"] == "hf://org/m/w.pt"
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "verify")
    assert code == 0 and "nothing to verify" in out
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "fetch", "good")
    assert code == 0 and (tmp_path / "cache" / "good" / "src.bin").is_file()
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "verify")
    assert code == 0 and out.startswith("ok")
    (tmp_path / "cache" / "good" / "src.bin").write_bytes(b"tampered")
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "verify", "good")
    assert code == 1 and out.startswith("mismatch")
    code, out, _ = run(capsys, "weights", "--registry", str(registry), "list", "--check")
    assert "mismatch" in out


def test_weights_fetch_offline_reports_and_fails(capsys, registry):
    code, _, err = run(capsys, "weights", "--registry", str(registry), "fetch", "hub")
    assert code == 1 and "HF_HUB_OFFLINE is set" in err
    code, _, err = run(capsys, "weights", "--registry", str(registry), "fetch")
    assert code == 2 and "name the weights to fetch" in err
