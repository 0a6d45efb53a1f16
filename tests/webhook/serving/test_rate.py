"""webhook.serving.rate: the reviews finished in the last second, in fixed memory, on a clock the test moves."""

from __future__ import annotations

import tracemalloc

import pytest

from webhook.serving.rate import Rate


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("events", "later", "expected"), [
    pytest.param([0.0, 0.05, 0.5], 0.55, 3, id="all within the second"),
    pytest.param([0.0, 0.5, 0.95], 1.05, 2, id="the oldest bucket has left the window"),
    pytest.param([0.0, 0.1, 0.2], 5.0, 0, id="nothing for seconds"),
    pytest.param([0.0] * 5 + [2.0] * 3, 2.0, 3, id="a bucket reused a window later counts afresh"),
    pytest.param([], 0.0, 0, id="nothing yet"),
])
def test_counts_what_was_added_within_the_window(events, later, expected):
    clock = Clock()
    rate = Rate(clock=clock)
    start = clock.now
    for at in events:
        clock.now = start + at
        rate.add()
    clock.now = start + later
    assert rate.count() == expected


def test_what_it_keeps_does_not_grow_with_the_events_counted():
    clock = Clock()
    rate = Rate(clock=clock)
    for _ in range(10):  # every bucket used once
        clock.now += 0.1
        rate.add()
    tracemalloc.start()
    try:
        kept = tracemalloc.get_traced_memory()[0]
        for _ in range(100_000):
            clock.now += 0.0001
            rate.add()
        grown = tracemalloc.get_traced_memory()[0] - kept
    finally:
        tracemalloc.stop()
    assert grown < 4096, f"{grown} bytes kept for 100,000 events"  # a timestamp each would be 3 MB
    assert 9_000 <= rate.count() <= 10_001  # the last second's 10,000, to a bucket's width


@pytest.mark.parametrize(("window", "buckets"), [(0.0, 10), (-1.0, 10), (1.0, 0)])
def test_a_rate_without_a_window_or_buckets_is_refused(window, buckets):
    with pytest.raises(ValueError, match="positive window and at least one bucket"):
        Rate(window, buckets)
