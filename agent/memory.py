"""Freed memory given back to the system after a sync cycle, so the resident agent returns to its idle size.

glibc's allocator keeps what a thread freed in that thread's arena for reuse; after a cycle that sent and answered
many batches (a file in 200 parts), the resident agent stayed hundreds of MB above its idle size although Python held
nothing more (bench/memory_after_big_file.py). ``malloc_trim`` returns those pages. Where there is no glibc
(Windows, musl) nothing is done: those allocators give memory back on their own terms.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's name; musl's differs
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def give_back() -> None:
    """Return the allocator's free pages to the system (a few ms; blocking, so called on the worker thread)."""
    if _TRIM is not None:
        _TRIM(0)
