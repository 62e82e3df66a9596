"""``s2acc submit build``: an entry spec and a prompts CSV to a validated submission zip.

The entry spec (``submissions/efficiency_track.yaml``) names the DiT export, the sampler and the seed.
Build generates one clip per prompt (each with its own seed from the spec's seed and the prompt id;
clips already generated for the same checkpoint and settings are reused), validates the folder against
the prompts, and only then writes a flat zip of ``{id}.wav`` plus ``manifest.json``: the prompt file's
and checkpoint's sha256, the spec's config hash, the per-prompt seeds, the sampler settings, the commit
and the parameter audit against the track's limit. A package that fails validation is not zipped.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from s2acc.config import ConfigError, config_hash
from s2acc.dit.generate import SamplingSection


class InvalidPackageError(ValueError):
    """The generated package failed validation (the message lists every problem)."""


@dataclass
class EntrySpec:
    KIND: ClassVar[str] = "entry"

    name: str = "s2acc"
    track: str = "efficiency"  # efficiency (core model <= 500M parameters) | performance
    checkpoint: str = ""  # the DiT export folder
    vae: str = ""  # decode with this VAE instead of the export's
    dit_config: str = ""  # the DiT training config, for the parameter audit
    seed: int = 0
    sampler: SamplingSection = field(default_factory=SamplingSection)
    out: str = "runs/submission"


def parameter_audit(spec: EntrySpec) -> dict:
    from s2acc.dit.export import load_dit
    from s2acc.dit.params import audit
    from s2acc.dit.train import DiTTrainConfig

    model, meta = load_dit(spec.checkpoint)
    if spec.dit_config:
        from s2acc.config import load_config

        cfg = load_config(DiTTrainConfig, spec.dit_config)
    else:
        from s2acc.config import from_dict

        cfg = from_dict(
            DiTTrainConfig, {"text_encoder": meta["text_encoder"], "vae": meta["vae"], "model": meta["dit"]}
        )
    report = audit(cfg)
    loaded = sum(p.numel() for p in model.parameters())
    if loaded != report["core"]["dit"]:
        raise ConfigError(
            f"{spec.checkpoint}: holds {loaded} parameters but its config counts {report['core']['dit']}"
        )
    return report


def build(spec: EntrySpec, prompts: str | Path, progress: bool = True) -> Path:
    """Generate, validate and zip; returns the zip's path. Raises InvalidPackageError when validation
    fails, ConfigError when the spec cannot be used."""
    import pandas as pd
    import torch

    from s2acc.dit.generate import cached_generation, read_prompts
    from s2acc.environment import git_commit
    from s2acc.hub import file_sha256
    from submissions.validate import MANIFEST, validate

    if not spec.checkpoint or not (Path(spec.checkpoint) / "model.safetensors").exists():
        raise ConfigError(f"checkpoint {spec.checkpoint or '(empty)'}: not a DiT export folder")
    audit = parameter_audit(spec)
    if spec.track == "efficiency" and not audit["core_within_limit"]:
        raise ConfigError(
            f"the core model has {audit['core']['dit']:,} parameters, over the efficiency limit"
        )
    prompts = Path(prompts)
    table = read_prompts(prompts)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    clips = cached_generation(
        spec.checkpoint, table, spec.out, spec.sampler, spec.seed, spec.vae, device=device, progress=progress
    )
    seeds = pd.read_csv(clips / "generations.csv", dtype={"id": str}).set_index("id")["seed"]
    staging = {f"{i}.wav": clips / f"{i}.wav" for i in table["id"]}
    manifest = {
        "name": spec.name,
        "track": spec.track,
        "prompts_file": prompts.name,
        "prompts_sha256": hashlib.sha256(prompts.read_bytes()).hexdigest(),
        "checkpoint": spec.checkpoint,
        "checkpoint_sha256": file_sha256(Path(spec.checkpoint) / "model.safetensors"),
        "entry_config_hash": config_hash(spec),
        "sampler": asdict(spec.sampler),
        "seeds": {i: int(seeds[i]) for i in table["id"]},
        "commit": git_commit(),
        "parameters": audit,
    }
    zip_path = Path(spec.out) / f"{spec.name}-{spec.track}.zip"
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, path in staging.items():
            z.write(path, arcname=name)
        z.writestr(MANIFEST, json.dumps(manifest, indent=1, default=str))
    report = validate(tmp, prompts)
    if not report.ok:
        tmp.unlink()
        raise InvalidPackageError(f"the generated package is not valid, nothing was written:\n{report}")
    tmp.replace(zip_path)
    return zip_path
