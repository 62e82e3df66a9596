"""The `accelerate launch` prefix the multi-process tests run under (CPU, gloo)."""

import sys
from pathlib import Path


def accelerate_launch(num_processes: int) -> list[str]:
    """Command prefix for N local processes; follow it with a script path or ``-m module``."""
    return [
        str(Path(sys.executable).with_name("accelerate")),
        "launch",
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
