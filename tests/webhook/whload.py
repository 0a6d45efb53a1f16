"""Bounded load on loopback for the server tests and benchmarks: a closed loop that finds what the
server sustains, and an open loop that sends at a fixed rate whatever the answers (as kube-apiserver
does), each request on one of a fixed set of keep-alive connections."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from whserver import session


@dataclass(frozen=True)
class Outcome:
    due: float  # seconds after the start, when it was due to be sent
    latency: float  # from when it was due (a request that waited for a free connection waited too)
    status: int  # 0: no answer (timeout, reset)


def _post(client: requests.Session, url: str, data: bytes, timeout: float) -> int:
    try:
        return client.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=timeout).status_code
    except requests.RequestException:
        return 0


def sustained(url: str, ca: Path, body: dict, seconds: float = 2.0, clients: int = 4) -> float:
    """Requests per second that `clients` back-to-back keep-alive clients get answered with 200."""
    data, done, stop = json.dumps(body).encode(), [0] * clients, time.monotonic() + seconds

    def run(i: int) -> None:
        with session(ca) as client:
            while time.monotonic() < stop:
                if _post(client, url, data, 10) == 200:
                    done[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def open_loop(url: str, ca: Path, body: dict, rate: float, seconds: float, connections: int = 48,
              timeout: float = 5.0) -> list[Outcome]:
    """`rate` requests per second for `seconds`, each due at its time, on up to `connections` connections."""
    data = json.dumps(body).encode()
    due: queue.SimpleQueue[float | None] = queue.SimpleQueue()
    total = int(rate * seconds)
    for i in range(total):
        due.put(i / rate)
    for _ in range(connections):
        due.put(None)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = time.monotonic()

    def run() -> None:
        with session(ca) as client:
            while (at := due.get()) is not None:
                delay = start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                status = _post(client, url, data, timeout)
                with lock:
                    outcomes.append(Outcome(at, time.monotonic() - start - at, status))

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0
