"""How many reviews the worker finished in the last second, counted without keeping anything per review.

Load shedding (`webhook.serving.worker`) compares the reviews waiting for a thread with the rate at which they
are finished. `Rate` counts them in fixed buckets (ten of a tenth of a second each): a count costs an
increment, and the memory is the same after a thousand reviews as after a billion. It replaces a
timestamp kept per review that was trimmed only while reviews were queued, so a server that never
queued kept a float for every review it had answered: after 100,000 ordinary reviews the worker's RSS
was 45.4 MiB with them and is 42.1 MiB without (`benchmarks/webhook_soak.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Rate:
    """Events within the last `window` seconds, to within one bucket (`window / buckets`)."""

    def __init__(self, window: float = 1.0, buckets: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0 or buckets < 1:
            raise ValueError(f"a Rate needs a positive window and at least one bucket, got {window}, {buckets}")
        self._width = window / buckets
        self._clock = clock
        self._counts = [0] * buckets
        self._ticks = [-1] * buckets  # the tick (time / width) that each bucket counts now

    def _tick(self) -> int:
        return int(self._clock() / self._width)

    def add(self) -> None:
        tick = self._tick()
        slot = tick % len(self._counts)
        if self._ticks[slot] != tick:  # the bucket last counted a tick one window ago (or more): reuse it
            self._ticks[slot], self._counts[slot] = tick, 0
        self._counts[slot] += 1

    def count(self) -> int:
        """The events of the current tick and the `buckets - 1` before it."""
        tick, size = self._tick(), len(self._counts)
        return sum(n for n, t in zip(self._counts, self._ticks, strict=True) if tick - size < t <= tick)
