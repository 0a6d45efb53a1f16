"""The C allocator settings that keep the worker's memory where ordinary load leaves it after hostile bodies.

glibc serves a large allocation (a request body, a parsed megabyte string) with its own mmap only above
a threshold that it raises to the size of every such block freed, up to 32 MiB. After a few
megabyte-sized requests, then, later large blocks come from the heaps of the worker's threads instead,
and freeing them leaves holes that the process keeps: after 3,000 fuzzed requests the worker's RSS was
1.61x that after 3,000 ordinary ones (`benchmarks/webhook_soak.py --requests 3000`). With the threshold
fixed at 128 KiB (glibc's own starting value, and it no longer moves), every block that size or larger
is mapped and unmapped on its own, and the same benchmark gave 1.26-1.30x. glibc also gives each new
thread an arena of its own (up to 8 per core), each keeping what its thread freed; the worker's threads
take turns under the GIL anyway, so one arena costs no measurable throughput (`webhook_load.py`'s
cells, alternated) and brought the soak to 1.20-1.24x. These are what the environment variables
`MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=1` do; they are set here, in the worker before its
threads start, so that they hold however the server is started. Other C libraries (musl has no
`mallopt`) are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Final

M_ARENA_MAX: Final = -8  # <malloc.h>
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 128 * 1024

log = logging.getLogger(__name__)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD, arenas: int = 0) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes (and, unless 0, allow at most `arenas` arenas);
    False when this C library has no `mallopt`."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("no mallopt in this C library: large allocations follow its own policy")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and (not arenas or bool(mallopt(M_ARENA_MAX, arenas)))
