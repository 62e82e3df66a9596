"""The CPU allocator setting: a loop that frees and reallocates the same tensors stops page-faulting."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Eight "steps", each holding tensors of a DiT step's sizes (MiB) and then freeing them; prints whether
# the setting took and the minor page faults of the last three (the heap settles over the first few).
PROBE = """
import resource, sys, torch
from s2acc.train.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    held = [torch.ones(mib * 2**18) for mib in (8, 14, 33, 14, 4, 33, 12, 40)]
    del held
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, sum(faults[-3:]))
"""
STEP_PAGES = (8 + 14 + 33 + 14 + 4 + 33 + 12 + 40) * 2**20 // 4096


def last_steps_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    return out[0], int(out[1])


def test_a_training_loops_tensors_stop_page_faulting():
    kept, with_setting = last_steps_faults("keep")
    _, default = last_steps_faults("default")
    assert kept == "True"
    assert default > STEP_PAGES  # glibc maps and unmaps the large blocks: they fault every step
    assert with_setting < default / 10  # reused in place


RELEASE = """
import resource, sys, torch
from s2acc.train.allocator import freed_memory_kept
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
with freed_memory_kept() as kept:
    held = [torch.ones(64 * 2**18) for _ in range(16)]  # 1 GiB from the heap
    del held
    inside = rss()
after = rss()
print(kept, inside, after)
"""


def test_the_setting_lasts_only_while_training_and_the_heap_goes_back():
    out = subprocess.run(
        [sys.executable, "-c", RELEASE], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    kept, inside, after = out[0], int(out[1]), int(out[2])
    assert kept == "True"
    assert inside > after + 512  # MiB kept while the setting holds, returned once it ends
