"""The C allocator setting that keeps the worker's memory where ordinary load leaves it after hostile bodies.

glibc serves a large allocation (a request body, a parsed megabyte string) with its own mmap only above
a threshold that it raises to the size of every such block freed, up to 32 MiB. After a few
megabyte-sized requests, then, later large blocks come from the heaps of the worker's threads instead,
and freeing them leaves holes that the process keeps: after 3,000 fuzzed requests the worker's RSS was
1.61x that after 3,000 ordinary ones (`benchmarks/webhook_soak.py --requests 3000`). With the threshold
fixed at 128 KiB (glibc's own starting value, and it no longer moves), every block that size or larger
is mapped and unmapped on its own, and the same benchmark gave 1.26-1.30x. This is what the environment
variable `MALLOC_MMAP_THRESHOLD_=131072` does; it is set here, in the worker, so that it holds however
the server is started. Other C libraries (musl has no `mallopt`) are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Final

M_MMAP_THRESHOLD: Final = -3  # <malloc.h>
MMAP_THRESHOLD: Final = 128 * 1024

log = logging.getLogger(__name__)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; False when this C library has no `mallopt`."""
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
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
