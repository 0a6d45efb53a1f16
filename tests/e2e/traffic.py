"""Real HTTP through the gateway, as the seed's curls send it, and the judge of a rollout's traffic.

`sample` sends N requests (keep-alive, like a client behind a load balancer) and counts the answers
by body (`version:echo-v1`) or by failure (`HTTP 503: no healthy upstream`). `wait_for` repeats
samples until every answer is one of the allowed versions (and, for a split, each was seen), so a
test measures only once the gateway has taken a change. `Load` runs several clients without pause,
recording every request, while a rollout runs; `judge` then checks each record against the steps of
the rollout: 200, and a version that the step in force when it was sent or answered allows (while a
step is being taken, both the old and the new step's versions are allowed).

All traffic goes to the gateway's loopback address inside the test run's own network namespace.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEADER = {"stage": "canary"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    @property
    def label(self) -> str:
        """The body for a 200 (`version:echo-v1`), else `HTTP 503: no healthy upstream`."""
        return self.body if self.status == 200 else f"HTTP {self.status}: {self.body}"[:200]


class Client:
    """One keep-alive connection to the gateway, sending `Host: host` (which picks the VirtualService)."""

    def __init__(self, url: str, host: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = host
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        """One request; a connection error is an answer with status 0 (and the next request reconnects)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        try:
            self.conn.request("GET", path, headers={"Host": self.host, **(headers or {})})
            resp = self.conn.getresponse()
            return Answer(resp.status, resp.read().decode(errors="replace").strip())
        except (OSError, http.client.HTTPException) as err:
            self.close()
            return Answer(0, f"connection error: {err!r}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def sample(url: str, host: str, path: str, n: int, headers: Mapping[str, str] | None = None) -> Counter[str]:
    """N requests on one connection; the answers counted by label."""
    client = Client(url, host)
    try:
        return Counter(client.get(path, headers).label for _ in range(n))
    finally:
        client.close()


def wait_for(
    url: str, host: str, path: str, allowed: Iterable[str], headers: Mapping[str, str] | None = None,
    timeout: float = 90.0, batch: int = 20,
) -> Counter[str]:
    """Sample until a batch lands only on `allowed` and every allowed label was seen since the last
    stray answer; AssertionError naming what was seen at the deadline."""
    want = set(allowed)
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    last: Counter[str] = Counter()
    while time.monotonic() < deadline:
        last = sample(url, host, path, batch, headers)
        if set(last) <= want:
            seen += last
            if set(seen) == want:
                return seen
        else:
            seen = Counter()
        time.sleep(0.2)
    raise AssertionError(f"{path} {dict(headers or {})}: wanted only {sorted(want)}, last batch {dict(last)}")


def within(share: float, expected: float, n: int, sigmas: float = 3.3) -> bool:
    """Whether an observed share of n Bernoulli trials is within `sigmas` standard deviations of `expected`."""
    return abs(share - expected) <= sigmas * math.sqrt(expected * (1 - expected) / n)


@dataclass(frozen=True)
class Record:
    header: bool
    sent: float
    done: float
    answer: Answer


@dataclass
class Load:
    """`clients` threads sending requests back to back (half of them with the canary header) until
    stop(), or until `max_seconds` / `max_requests` bound the run."""

    url: str
    host: str
    path: str
    clients: int = 4
    max_seconds: float = 600.0
    max_requests: int = 400_000
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i % 2 == 1,), daemon=True)
                         for i in range(self.clients)]

    def _run(self, header: bool) -> None:
        client = Client(self.url, self.host)
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and len(self.records) < self.max_requests:
                sent = time.monotonic()
                answer = client.get(self.path, HEADER if header else None)
                self.records.append(Record(header, sent, time.monotonic(), answer))
        finally:
            client.close()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


class Users:
    """`clients` threads sending GET `path` through every gateway replica in turn, `pause` seconds apart, until
    stopped, as users would. A 200 is counted under `label(answer)` (default "200"), anything else (status 0:
    no answer) under `HTTP <status>`, and is a failure."""

    def __init__(self, urls: Sequence[str], host: str, path: str = "/", clients: int = 4, pause: float = 0.05,
                 label: Callable[[Answer], str] = lambda answer: "200") -> None:
        self.urls, self.host, self.path, self.pause, self.label = list(urls), host, path, pause, label
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, index: int) -> None:
        clients = [Client(url, self.host) for url in self.urls]
        n = index
        try:
            while not self.stopped.is_set():
                answer = clients[n % len(clients)].get(self.path)
                n += 1
                counted = self.label(answer) if answer.status == 200 else f"HTTP {answer.status}"
                with self.lock:
                    self.seen[counted] += 1
                time.sleep(self.pause)
        finally:
            for client in clients:
                client.close()

    @property
    def failed(self) -> int:
        with self.lock:
            return sum(n for counted, n in self.seen.items() if counted.startswith("HTTP "))

    def describe(self) -> str:
        """`N requests, F failed`, and how they failed (`HTTP 503: 2`) when any did."""
        with self.lock:
            sent = sum(self.seen.values())
            failures = sorted((c, n) for c, n in self.seen.items() if c.startswith("HTTP "))
        how = f" ({', '.join(f'{c}: {n}' for c, n in failures)})" if failures else ""
        return f"{sent} requests, {sum(n for _, n in failures)} failed{how}"

    def __enter__(self) -> Users:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=15)


@dataclass(frozen=True)
class Step:
    """One command of a rollout: when it began, when the gateway had taken it, and what it allows."""

    name: str
    began: float
    settled: float
    plain: frozenset[str]
    header: frozenset[str]

    def allows(self, record: Record) -> frozenset[str]:
        return self.header if record.header else self.plain


def during(records: Iterable[Record], steps: list[Step]) -> dict[str, int]:
    """For each step taken under load (began < settled), the requests sent while it was being taken:
    from its command's start until the gateway had taken it."""
    taken = [s for s in steps if s.began < s.settled]
    counts = dict.fromkeys((s.name for s in taken), 0)
    for rec in records:
        for step in taken:
            if step.began <= rec.sent < step.settled:
                counts[step.name] += 1
    return counts


def judge(records: Iterable[Record], steps: list[Step]) -> list[str]:
    """Every record that failed, or landed on a version no step in force at the time allows."""
    bad: list[str] = []
    for rec in records:
        allowed: set[str] = set()
        first = max((i for i, s in enumerate(steps) if s.began <= rec.sent), default=0)
        for moment in (rec.sent, rec.done):
            index = max((i for i, s in enumerate(steps) if s.began <= moment), default=0)
            allowed |= steps[index].allows(rec)
            if index > 0 and moment < steps[index].settled:
                allowed |= steps[index - 1].allows(rec)
        if rec.answer.status != 200 or rec.answer.body not in allowed:
            kind = "header" if rec.header else "plain"
            bad.append(f"{kind} request during {steps[first].name!r}: {rec.answer.label} (allowed {sorted(allowed)})")
    return bad
