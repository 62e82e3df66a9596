import hashlib
import json

import pytest
import yaml

from s2acc.hub import (
    Registry,
    WeightsChecksumError,
    WeightsError,
    WeightsMissingError,
    cache_dir,
    default_registry,
    file_sha256,
)

PAYLOAD = b"pretend these are weights\n" * 1000
GOOD = hashlib.sha256(PAYLOAD).hexdigest()
BAD = "0" * 64


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "upstream" / "model.bin"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    return src


def make_registry(tmp_path, entries):
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"weights": entries}))
    return Registry.load(path, root=tmp_path / "cache")


def url_entry(source, sha):
    return {"description": "test model", "used_by": "tests", "url": source.as_uri(), "sha256": sha}


def test_bundled_registry_lists_every_model_the_project_uses():
    reg = default_registry()
    names = {e.name for e in reg}
    for required in (
        "htdemucs",
        "clap-laion-music",
        "stable-audio-open-vae",
        "qwen2-audio-7b-instruct",
        "audiobox-aesthetics",
        "roberta-base",
        "flan-t5-large",
        "muq-mulan-large",
    ):
        assert required in names
    clap = reg["clap-laion-music"]
    assert clap.filename == "music_audioset_epoch_15_esc_90.14.pt"
    assert clap.sha256 == "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd"
    # demucs names its files <signature>-<sha256 prefix>.th: the registry must agree with itself
    demucs = reg["htdemucs"]
    assert demucs.url.endswith(f"-{demucs.sha256[:8]}.th")
    for e in reg:
        assert e.description and e.used_by and (e.url or e.repo or e.command)
        for digest in [e.sha256, *e.checksums.values()]:
            if digest:
                assert len(digest) == 64 and int(digest, 16) >= 0


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("S2ACC_WEIGHTS", str(tmp_path / "w"))
    assert cache_dir() == tmp_path / "w"
    assert default_registry().path("htdemucs") == tmp_path / "w" / "htdemucs" / "955717e8-8726e21a.th"
    monkeypatch.delenv("S2ACC_WEIGHTS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "s2acc" / "weights"


def test_missing_file_says_what_where_and_how(tmp_path, source):
    reg = make_registry(tmp_path, {"toy": url_entry(source, GOOD)})
    assert reg.status("toy") == "missing"
    with pytest.raises(WeightsMissingError) as info:
        reg.resolve("toy")
    message = str(info.value)
    assert "'toy'" in message and "test model" in message
    assert str(reg.path("toy")) in message
    assert "s2acc weights fetch toy" in message and "$S2ACC_WEIGHTS" in message
    assert isinstance(info.value, FileNotFoundError)


def test_fetch_verifies_and_resolve_checks_the_digest(tmp_path, source):
    reg = make_registry(tmp_path, {"toy": url_entry(source, GOOD)})
    path = reg.fetch("toy")
    assert path.read_bytes() == PAYLOAD and reg.status("toy") == "ok"
    assert reg.resolve("toy") == path
    # a corrupted file is refused on load, with both digests' story
    path.write_bytes(PAYLOAD[:-1] + b"X")
    assert reg.status("toy") == "mismatch"
    with pytest.raises(WeightsChecksumError, match=r"fail their sha256 check") as info:
        reg.resolve("toy")
    assert "s2acc weights fetch toy" in str(info.value)
    reg.fetch("toy", force=True)
    assert reg.status("toy") == "ok"


def test_fetch_with_wrong_checksum_keeps_nothing(tmp_path, source):
    reg = make_registry(tmp_path, {"toy": url_entry(source, BAD)})
    with pytest.raises(WeightsChecksumError, match="failed the sha256 check and was removed"):
        reg.fetch("toy")
    assert not reg.path("toy").exists()
    assert [p for p in reg.path("toy").parent.iterdir() if not p.name.endswith(".sha256")] == []


def test_unverified_entries_and_snapshots(tmp_path):
    reg = make_registry(
        tmp_path,
        {
            "nodigest": {"description": "d", "used_by": "u", "url": "file:///nowhere/x.bin"},
            "snap": {
                "description": "d",
                "used_by": "u",
                "repo": "org/model",
                "kind": "snapshot",
                "files": ["config.json", "w/model.safetensors"],
                "checksums": {"w/model.safetensors": GOOD},
            },
        },
    )
    reg.path("nodigest").parent.mkdir(parents=True)
    reg.path("nodigest").write_bytes(b"x")
    assert reg.status("nodigest") == "unverified" and reg.resolve("nodigest").is_file()
    snap = reg.path("snap")
    (snap / "w").mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    assert reg.status("snap") == "missing"
    with pytest.raises(WeightsMissingError, match=r"files w/model\.safetensors in"):  # only what is absent
        reg.resolve("snap")
    (snap / "w" / "model.safetensors").write_bytes(PAYLOAD)
    assert reg.status("snap") == "ok" and reg.resolve("snap") == snap
    (snap / "w" / "model.safetensors").write_bytes(b"other")
    assert reg.status("snap") == "mismatch"


def test_sharded_snapshots_need_every_shard_their_index_names(tmp_path):
    reg = make_registry(
        tmp_path,
        {
            "llm": {
                "description": "d",
                "used_by": "u",
                "repo": "org/llm",
                "kind": "snapshot",
                "files": ["config.json", "model.safetensors.index.json"],
            }
        },
    )
    snap = reg.path("llm")
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {"a.weight": shards[0], "b.weight": shards[1], "c.weight": shards[1]}
    (snap / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (snap / shards[0]).write_bytes(b"x")
    assert reg.status("llm") == "missing"  # an interrupted download: one shard of two
    with pytest.raises(WeightsMissingError, match="files model-00002-of-00002.safetensors in"):
        reg.resolve("llm")
    (snap / shards[1]).write_bytes(b"x")
    assert reg.status("llm") == "unverified" and reg.resolve("llm") == snap
    (snap / "model.safetensors.index.json").write_text("[]")
    with pytest.raises(WeightsError, match="is not a safetensors index"):
        reg.status("llm")


def test_offline_fetch_from_hub_is_refused_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reg = make_registry(
        tmp_path, {"hubfile": {"description": "d", "used_by": "u", "repo": "org/m", "filename": "w.pt"}}
    )
    with pytest.raises(WeightsError, match=r"HF_HUB_OFFLINE is set") as info:
        reg.fetch("hubfile")
    assert str(reg.path("hubfile")) in str(info.value)
    assert not reg.path("hubfile").exists()


def test_unreachable_url_is_a_clear_error(tmp_path):
    reg = make_registry(
        tmp_path, {"gone": {"description": "d", "used_by": "u", "url": (tmp_path / "absent.bin").as_uri()}}
    )
    with pytest.raises(WeightsError, match=r"download of file://.*absent\.bin failed"):
        reg.fetch("gone")
    assert not reg.path("gone").exists()


def test_malformed_registry_and_unknown_names(tmp_path):
    with pytest.raises(WeightsError, match="needs url, or repo and filename"):
        make_registry(tmp_path, {"x": {"description": "d", "used_by": "u", "repo": "org/m"}})
    with pytest.raises(WeightsError, match="malformed"):
        make_registry(tmp_path, {"x": {"description": "d", "used_by": "u", "url": "u", "colour": 1}})
    with pytest.raises(WeightsError, match="no weights named 'nope'"):
        default_registry()["nope"]


def test_digest_is_cached_by_size_and_mtime(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(PAYLOAD)
    assert file_sha256(f) == GOOD
    sidecar = tmp_path / "w.bin.sha256"
    assert sidecar.read_text().startswith(GOOD)
    f.write_bytes(b"changed")  # new size and mtime: the stale digest must not be reused
    assert file_sha256(f) == hashlib.sha256(b"changed").hexdigest()


def test_bundled_models_resolve_in_place_are_checked_and_name_their_command(tmp_path):
    folder = tmp_path / "pretrained" / "small"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(PAYLOAD)
    entry = {
        "description": "a model the project trains",
        "used_by": "tests",
        "kind": "bundled",
        "path": str(folder),  # absolute here; the bundled registry's paths are relative to the package
        "command": "make pretrain-small",
        "checksums": {"model.safetensors": GOOD},
    }
    reg = make_registry(tmp_path, {"small": entry})
    assert reg.status("small") == "ok" and reg.resolve("small") == folder and reg.fetch("small") == folder
    assert reg["small"].source == "`make pretrain-small`"
    (folder / "model.safetensors").write_bytes(b"retrained")
    with pytest.raises(WeightsChecksumError, match="make pretrain-small"):
        reg.resolve("small")
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsMissingError, match=r"model\.safetensors missing.*make pretrain-small"):
        reg.fetch("small")
    with pytest.raises(WeightsError, match="needs path and command"):
        make_registry(tmp_path, {"small": {**entry, "command": None}})
    # registered but never bundled: missing, with what to run
    fresh = make_registry(tmp_path, {"small": {**entry, "checksums": {}}})
    assert fresh.status("small") == "missing"
    with pytest.raises(
        WeightsMissingError, match=r"not been bundled yet.*make pretrain-small.*weights bundle small"
    ):
        fresh.resolve("small")


def test_bundling_an_export_copies_it_and_records_its_digests_in_the_registry_file(tmp_path):
    export = tmp_path / "run" / "export"
    export.mkdir(parents=True)
    (export / "model.safetensors").write_bytes(PAYLOAD)
    (export / "config.json").write_text('{"width": 8}')
    folder = tmp_path / "pretrained" / "small"
    path = tmp_path / "registry.yaml"
    path.write_text(
        "# a comment the rewrite keeps\nweights:\n  small:\n    description: d\n    used_by: u\n"
        f"    kind: bundled\n    path: {folder}\n    command: make pretrain-small\n    checksums:\n"
        "      model.safetensors: stale\n  other:\n    description: d\n    used_by: u\n    url: file:///x\n"
    )
    reg = Registry.load(path, root=tmp_path / "cache")
    digests = reg.bundle("small", export)
    assert digests["model.safetensors"] == GOOD and (folder / "config.json").read_text() == '{"width": 8}'
    reread = Registry.load(path)
    assert reread["small"].checksums == digests and reread.status("small") == "ok"
    assert reread["other"].url == "file:///x" and path.read_text().startswith("# a comment the rewrite keeps")
    with pytest.raises(WeightsError, match="only bundled entries"):
        reg.bundle("other", export)
    with pytest.raises(WeightsError, match="no config.json"):
        (export / "config.json").unlink()
        reg.bundle("small", export)


def test_a_truncated_file_fails_on_its_size_before_any_hashing(tmp_path, source, monkeypatch):
    entry = {**url_entry(source, GOOD), "size": len(PAYLOAD)}
    reg = make_registry(tmp_path, {"toy": entry})
    path = reg.fetch("toy")
    assert reg.status("toy") == "ok"
    path.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])  # a download cut short

    def no_hashing(p):
        raise AssertionError("the size alone settles it")

    monkeypatch.setattr("s2acc.hub.file_sha256", no_hashing)
    assert reg.status("toy") == "mismatch"
    with pytest.raises(WeightsChecksumError) as info:
        reg.resolve("toy")
    message = str(info.value)
    assert f"{len(PAYLOAD) // 2:,} bytes" in message and f"{len(PAYLOAD):,} are expected" in message
    assert "s2acc weights fetch toy" in message
