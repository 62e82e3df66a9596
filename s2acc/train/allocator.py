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
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # the largest mallopt accepts: free heap tops below 2 GiB are kept
DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD = 65536, 128 * 1024  # glibc's own


def _libc() -> ctypes.CDLL | None:
    """glibc with ``mallopt`` and ``malloc_trim`` typed; None on another C library or platform."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed blocks instead of returning them; False where that is not
    possible (another C library or platform), which changes nothing but speed."""
    libc = _libc()
    return (
        libc is not None
        and libc.mallopt(M_MMAP_MAX, 0) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )


def restore_defaults() -> bool:
    """glibc's own settings again, and the free heap handed back to the system."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD) == 1 and ok
    libc.malloc_trim(0)
    return ok


@contextmanager
def freed_memory_kept(enabled: bool = True) -> Iterator[bool]:
    """:func:`keep_freed_memory` for the duration of a block (a training loop), then the defaults."""
    kept = enabled and keep_freed_memory()
    try:
        yield kept
    finally:
        if kept:
            restore_defaults()
