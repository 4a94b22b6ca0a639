"""The supervisor's C allocator over a long run: big arrays mapped, free pages given back.

Each second the supervisor copies every worker's block (driver.shm: numpy arrays of a
few MB) and derives the window from the copies. glibc's malloc maps an allocation that
big on its own and unmaps it when it is freed, but after the first such free it raises
its mmap threshold to that size (its "dynamic" threshold), and from then on the copies
come from the heap, where the holes they leave are reused only in part: over an hour
the supervisor's RSS grew in steps (benchmarks/run_stability.py: +5.8 MB/h) while the
Python objects it held did not (tracemalloc: +1.8 KiB). With both below, the same hour
measured +3.6 MB/h; the rest was the checkpoint's peak (driver.stats.serieslog), and with
that gone too the hour measures +0.05 MB/h (RESULTS.md).

`settle()` fixes the threshold where glibc starts it (128 KiB, which also turns the
dynamic threshold off), so each copy is mapped and unmapped as a whole; `trim()`
(malloc_trim) gives the heap's free pages back to the system, and the supervisor calls
it once a minute. Where the C library is not glibc both do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["settle", "trim", "MMAP_THRESHOLD"]

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value
_libc = None


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.gnu_get_libc_version  # noqa: B018  (glibc only)
            libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            libc.malloc_trim.argtypes = (ctypes.c_size_t,)
            _libc = libc
        except (OSError, AttributeError):
            pass
    return _libc


def settle() -> bool:
    """Fix malloc's mmap threshold (see the module docstring); whether it was done."""
    libc = _glibc()
    return bool(libc) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def trim() -> bool:
    """Give free heap pages back to the system; whether any were."""
    libc = _glibc()
    return bool(libc) and libc.malloc_trim(0) == 1
