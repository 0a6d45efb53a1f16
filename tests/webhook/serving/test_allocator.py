"""webhook.serving.allocator: with the mmap threshold fixed, large blocks freed go back to the system at once, and
with one arena the threads' freed memory is not kept in one heap per thread.

Each case runs in a fresh interpreter (the allocator's state is per process). Threshold: a megabyte
block is freed (which raises glibc's moving threshold past it), then 100 half-megabyte blocks are made
and all but the last freed. With the moving threshold they came from the heap, and the last one pins
the other 99 below it; fixed, each was a mapping of its own and is gone. Arenas: four threads allocate,
and glibc's `malloc_stats` lists the arenas in use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = """
import os, sys
def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
if sys.argv[1] == "fixed":
    from webhook.serving.allocator import fix_mmap_threshold
    assert fix_mmap_threshold(), "mallopt refused"
big = b"x" * (1 << 20)
del big
before = rss_mib()
blocks = [b"y" * (512 << 10) for _ in range(100)]
last = blocks[-1]
del blocks
print(rss_mib() - before)
"""


ARENAS = """
import ctypes, ctypes.util, sys, threading
if sys.argv[1] == "fixed":
    from webhook.serving.allocator import fix_mmap_threshold
    assert fix_mmap_threshold(arenas=1), "mallopt refused"
allocated, done = threading.Barrier(5), threading.Event()
def work():
    keep = [bytearray(1000) for _ in range(1000)]
    allocated.wait()
    done.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
allocated.wait()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()  # to stderr: "Arena 0:", "Arena 1:", ...
done.set()
"""


def retained_mib(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout)


@pytest.mark.parametrize(("mode", "low", "high"), [
    ("dynamic", 30.0, 80.0),  # glibc's default: 99 freed blocks (49.5 MiB) stay in the process
    ("fixed", -5.0, 5.0),  # only the live one (0.5 MiB) remains
])
def test_freed_large_blocks_leave_the_process_only_with_the_threshold_fixed(mode, low, high):
    assert low < retained_mib(mode) < high


@pytest.mark.parametrize(("mode", "fewest", "most"), [
    ("dynamic", 2, 5),  # glibc's default: an arena for each new thread, up to 8 per core
    ("fixed", 1, 1),
])
def test_worker_threads_share_one_arena_with_the_limit(mode, fewest, most):
    done = subprocess.run([sys.executable, "-c", ARENAS, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    assert fewest <= sum(line.startswith("Arena ") for line in done.stderr.splitlines()) <= most
