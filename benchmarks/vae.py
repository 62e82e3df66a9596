"""VAE inference speed and memory: s2acc's encode/decode against unmodified diffusers, full config.

10 s of 44.1 kHz stereo through the full Oobleck VAE (Stable Audio Open's shape, about 156M
parameters, random weights: speed does not depend on their values). The s2acc path is what every
command uses (``s2acc.vae.encode`` / ``decode``: padding to whole frames and, for long clips, seamless
chunking); the peer is ``AutoencoderOobleck.encode(x).latent_dist.mean`` and ``.decode(z).sample``
called directly. A distilled VAE has exactly the peer's architecture (the projector and head are
dropped at export), so this is also the cost of distillation at inference: the target ratio is <= 1.05.

Each (implementation, operation) runs in its own process, so peak resident memory is its own;
the rounds alternate the implementations, and the ratios compare medians of the same run.

    python benchmarks/vae.py [--seconds 10] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks._meta import metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def measure(impl: str, op: str, seconds: float, repeats: int, device: str) -> dict:
    """One process: build the full VAE, warm up once, time ``repeats`` calls."""
    import torch

    from s2acc.vae import FULL_CONFIG, build_vae, decode, encode

    vae = build_vae(FULL_CONFIG, seed=0).to(device)
    g = torch.Generator().manual_seed(0)
    audio = (0.1 * torch.randn(1, 2, int(seconds * 44100), generator=g)).to(device)
    with torch.no_grad():
        z = encode(vae, audio)
        if impl == "s2acc":
            run = (lambda: encode(vae, audio)) if op == "encode" else (lambda: decode(vae, z))
        else:
            run = (
                (lambda: vae.encode(audio).latent_dist.mean)
                if op == "encode"
                else (lambda: vae.decode(z).sample)
            )
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        run()
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            run()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    out = {
        "seconds": min(times),
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": sum(p.numel() for p in vae.parameters()),
    }
    if device == "cuda":
        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per process (best is kept)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "OP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(*args.worker, args.seconds, args.repeats, args.device)))
        return

    samples: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.rounds):
        order = ("s2acc", "diffusers") if round_ % 2 == 0 else ("diffusers", "s2acc")
        for op in ("encode", "decode"):
            for impl in order:
                cmd = [sys.executable, __file__, "--worker", impl, op, "--seconds", str(args.seconds)]
                cmd += ["--repeats", str(args.repeats), "--device", args.device]
                line = (
                    subprocess.run(cmd, check=True, capture_output=True, text=True)
                    .stdout.strip()
                    .splitlines()[-1]
                )
                samples.setdefault((impl, op), []).append(json.loads(line))
                print(impl, op, line, flush=True)

    results = {}
    for (impl, op), runs in samples.items():
        t = statistics.median(r["seconds"] for r in runs)
        results.setdefault(impl, {})[op] = {
            "seconds_median": round(t, 4),
            "real_time_factor": round(args.seconds / t, 3),  # seconds of audio per second of compute
            "rss_peak_mib_median": round(statistics.median(r["rss_peak_mib"] for r in runs), 1),
            **(
                {"gpu_peak_mib": round(max(r["gpu_peak_mib"] for r in runs), 1)}
                if "gpu_peak_mib" in runs[0]
                else {}
            ),
        }
    ratios = {
        op: {
            "time_s2acc_over_diffusers": round(
                results["s2acc"][op]["seconds_median"] / results["diffusers"][op]["seconds_median"], 4
            ),
            "memory_s2acc_over_diffusers": round(
                results["s2acc"][op]["rss_peak_mib_median"] / results["diffusers"][op]["rss_peak_mib_median"],
                4,
            ),
        }
        for op in ("encode", "decode")
    }
    first = next(iter(samples.values()))[0]
    result = {
        **metadata(),
        "device": first.get("gpu", "cpu"),
        "setup": {
            "config": "full",
            "params": first["params"],
            "audio_seconds": args.seconds,
            "rounds": args.rounds,
        },
        "results": results,
        "ratios": ratios,
        "target": "time ratio <= 1.05 for encode and decode",
        "met": all(r["time_s2acc_over_diffusers"] <= 1.05 for r in ratios.values()),
    }
    out = args.out or ROOT / "benchmarks/results" / (
        "vae.json" if args.device == "cpu" else f"vae_{args.device}.json"
    )
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"ratios": ratios, "met": result["met"]}, indent=1))


if __name__ == "__main__":
    main()
