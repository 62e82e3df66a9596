"""Keep freed memory inside the process on glibc, for training on CPU.

glibc's malloc serves large blocks (above 32 MiB at most, a gradient of a 1024 x 8192 weight) with
their own ``mmap`` and unmaps them when freed, and it trims the heap's free top back to the system.
A training step frees and reallocates the same activations and gradients every step, so each step
page-faults (and zeroes) them in again: about a tenth of this project's 402M DiT step on CPU. With
mmap off and trimming raised, freed blocks are reused in place. This is what a caching allocator
(jemalloc, tcmalloc, PyTorch's own on GPU) does; mallopt gets it without preloading a library. The
price is some resident memory kept after a peak (the demo VAE's CPU training: 4.2 GB -> 4.6 GB peak
RSS).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # the largest mallopt accepts: free heap tops below 2 GiB are kept


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed blocks instead of returning them; False where that is not
    possible (another C library or platform), which changes nothing but speed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
