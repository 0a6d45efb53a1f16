"""Synthetic requests through the gateway for `shift --load`: so a quiet service can be judged, and the
source of per-version latency (see `core.verdict`).

Two streams at the given total rate: three quarters of the requests as users send them (`plain`,
split between the versions by the routes' weights), one quarter with the canary's header (`canary`,
which the header route sends to the canary alone), so every canary request of that stream is timed
and known to be the canary's. Each request is counted by its status code (a 5xx is a failure, not the
tool's exit code), or as a connection error. Bounded: at most `limit` requests in all, and none after
`stop()`.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

PLAIN = "plain"
CANARY = "canary"
WORKERS = 16
TIMEOUT = 10.0


@dataclass
class Tally:
    """What one stream saw: answers by status code (0: no answer), and each request's duration (s)."""

    codes: Counter[int] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.codes.values())

    @property
    def failed(self) -> int:
        return sum(n for code, n in self.codes.items() if code == 0 or code >= 500)

    def describe(self) -> str:
        codes = ", ".join(f"{c if c else 'no answer'}: {n}" for c, n in sorted(self.codes.items()))
        return f"{self.sent} sent, {self.failed} failed ({codes or 'none'})"


def _send(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.read()
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return 0


class Load:
    """Sends `rate` requests a second to `url` (with `host` as the Host header and `headers`) until stopped."""

    def __init__(self, url: str, rate: float, headers: Sequence[tuple[str, str]], canary_header: tuple[str, str],
                 host: str | None = None, limit: int = 100_000,
                 send: Callable[[str, dict[str, str]], int] = _send) -> None:
        self.url, self.rate, self.limit, self._send = url, rate, limit, send
        base = dict(headers) | ({"Host": host} if host else {})
        self.headers = {PLAIN: base, CANARY: base | {canary_header[0]: canary_header[1]}}
        self._lock = threading.Lock()
        self._tallies = {PLAIN: Tally(), CANARY: Tally()}
        self._total = {PLAIN: Tally(), CANARY: Tally()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubectl-canary-load", daemon=True)
        self.sent = 0

    def start(self) -> None:
        self._thread.start()

    def _one(self, stream: str) -> None:
        started = time.monotonic()
        code = self._send(self.url, self.headers[stream])
        took = time.monotonic() - started
        with self._lock:
            for tally in (self._tallies[stream], self._total[stream]):
                tally.codes[code] += 1
                tally.durations.append(took)

    def _run(self) -> None:
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="kubectl-canary-load") as pool:
            next_at = time.monotonic()
            while not self._stop.is_set() and self.sent < self.limit:
                pool.submit(self._one, CANARY if self.sent % 4 == 3 else PLAIN)
                self.sent += 1
                next_at += 1.0 / self.rate
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def take(self) -> dict[str, Tally]:
        """What each stream saw since the last `take` (and start counting anew)."""
        with self._lock:
            taken, self._tallies = self._tallies, {PLAIN: Tally(), CANARY: Tally()}
        return taken

    def totals(self) -> dict[str, Tally]:
        """What each stream saw since the start."""
        with self._lock:
            return {k: Tally(Counter(v.codes), list(v.durations)) for k, v in self._total.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT + 1)
