"""Judging one analysis window, canary against primary: healthy, failed or inconclusive, with the numbers.

Counts and error rates come from the gateway (`core.hoststats`). Latency does not: Envoy keeps no
per-host latency, and the cluster's `upstream_rq_time` mixes the versions. Per-version latency is
taken from a synthetic client (`shift --load`) that times requests whose serving version is known:
requests carrying the canary's header reach the canary alone (the header route); requests without it
reach the primary alone while the canary's weight is 0, and before the first step of a progressive
shift the client measures that baseline. Its limits, said where they are shown: only synthetic
requests are timed (users' requests are counted, not timed); the time includes the client-gateway hop,
which both versions share; the primary's baseline is from before the shift (at a starting weight
above 0 it is the mix of both versions, and is labelled so); and without `--load` there is no latency,
so a latency gate cannot be judged (the CLI refuses the combination).

The verdict is conservative: a window with fewer canary requests than `min_requests` is never healthy
(inconclusive), but a canary whose failures alone already break the error-rate gate even if every
missing request succeeded has failed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubectl_canary.core.errors import UsageError
from kubectl_canary.core.hoststats import HostStats

HEALTHY: Final = "healthy"
FAILED: Final = "failed"
INCONCLUSIVE: Final = "inconclusive"
QUANTILES: Final = ("p50", "p90", "p99")
# Fewest timed canary requests in a window before a latency gate judges it.
MIN_LATENCY_SAMPLES: Final = 10

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, what: str) -> float:
    """`500ms`, `15s`, `1m30s`, `2h` (Go's duration syntax, without µs) in seconds; UsageError naming `what`."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise UsageError(f"invalid {what} {text!r}: a duration is a number with a unit, e.g. 500ms, 15s, 1m")
    return sum(float(n) * _UNIT[u] for n, u in parts)


def parse_latency(text: str, what: str = "--max-latency") -> tuple[str, float]:
    """`p99=500ms` -> ("p99", 0.5)."""
    quantile, sep, duration = text.partition("=")
    if not sep or quantile not in QUANTILES:
        raise UsageError(f"invalid {what} {text!r}: use QUANTILE=DURATION with QUANTILE one of "
                         f"{', '.join(QUANTILES)}, e.g. p99=500ms")
    return quantile, parse_duration(duration, what)


def percentile(samples: Sequence[float], quantile: str) -> float | None:
    """The nearest-rank percentile (`p99`) of `samples`; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = math.ceil(float(quantile[1:]) / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Gates:
    """What a window must show. Rates are percent; latencies seconds; None: that gate is off."""

    max_error_rate: float | None = 1.0
    error_rate_margin: float | None = 1.0
    min_requests: int = 20
    max_latency: tuple[tuple[str, float], ...] = ()
    latency_ratio: float | None = None

    @property
    def needs_latency(self) -> bool:
        return bool(self.max_latency) or self.latency_ratio is not None


@dataclass(frozen=True)
class Numbers:
    """One version's window: counts from the gateway, latency quantiles (seconds) from the synthetic client."""

    requests: int = 0
    failed: int = 0
    timeouts: int = 0
    latency: tuple[tuple[str, float], ...] = ()
    timed: int = 0

    @classmethod
    def of(cls, stats: HostStats, samples: Sequence[float] = ()) -> Numbers:
        latency = tuple((q, v) for q in QUANTILES if (v := percentile(samples, q)) is not None)
        return cls(stats.requests, stats.failed, stats.rq_timeout, latency, len(samples))

    @property
    def error_rate(self) -> float | None:
        return 100.0 * self.failed / self.requests if self.requests else None

    def quantile(self, name: str) -> float | None:
        return dict(self.latency).get(name)

    def describe(self) -> str:
        rate = "-" if self.error_rate is None else f"{self.error_rate:.1f}%"
        text = f"{self.requests} requests, {self.failed} failed ({rate})"
        if self.latency:
            text += ", " + " ".join(f"{q}={v * 1000:.0f}ms" for q, v in self.latency) + f" of {self.timed} timed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "failed": self.failed, "timeouts": self.timeouts,
                "errorRate": None if self.error_rate is None else round(self.error_rate, 2),
                "latencyMs": {q: round(v * 1000, 1) for q, v in self.latency}, "timed": self.timed}


@dataclass(frozen=True)
class Verdict:
    """The outcome of one window, and the sentences with the numbers that decided it."""

    outcome: str
    reasons: tuple[str, ...]
    canary: Numbers
    primary: Numbers
    extra: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, canary: str, primary: str) -> str:
        return (f"{self.outcome}: canary {canary}: {self.canary.describe()}; primary {primary}: "
                f"{self.primary.describe()} -- {'; '.join(self.reasons)}")


def _error_gates(gates: Gates, canary: Numbers, primary: Numbers) -> list[str]:
    """Why the canary's errors fail it (empty: they do not). Few requests judge only when the failures
    alone break the absolute gate, counted over at least `min_requests`."""
    found = []
    if gates.max_error_rate is not None and canary.failed:
        over = max(canary.requests, gates.min_requests)
        if 100.0 * canary.failed / over > gates.max_error_rate:
            found.append(f"canary error rate {100.0 * canary.failed / over:.1f}% ({canary.failed} of "
                         f"{canary.requests}) is above --max-error-rate {gates.max_error_rate:g}%")
    if (gates.error_rate_margin is not None and not found and canary.requests >= gates.min_requests
            and canary.error_rate is not None):
        base = primary.error_rate or 0.0
        if canary.error_rate > base + gates.error_rate_margin:
            found.append(f"canary error rate {canary.error_rate:.1f}% is more than --error-rate-margin "
                         f"{gates.error_rate_margin:g} points above the primary's {base:.1f}%")
    return found


def _latency_gates(gates: Gates, canary: Numbers, primary: Numbers) -> tuple[list[str], list[str]]:
    """(why the canary's latency fails it, why it cannot be judged)."""
    if not gates.needs_latency:
        return [], []
    if canary.timed < MIN_LATENCY_SAMPLES:
        return [], [f"only {canary.timed} canary requests timed, fewer than {MIN_LATENCY_SAMPLES}"]
    failed, unknown = [], []
    for quantile, limit in gates.max_latency:
        seen = canary.quantile(quantile)
        if seen is not None and seen > limit:
            failed.append(f"canary {quantile} {seen * 1000:.0f}ms is above --max-latency {quantile}="
                          f"{limit * 1000:.0f}ms")
    if gates.latency_ratio is not None:
        mine, theirs = canary.quantile("p99"), primary.quantile("p99")
        if theirs is None or primary.timed < MIN_LATENCY_SAMPLES:
            unknown.append(f"only {primary.timed} primary requests timed, fewer than {MIN_LATENCY_SAMPLES}")
        elif mine is not None and mine > gates.latency_ratio * max(theirs, 0.001):
            failed.append(f"canary p99 {mine * 1000:.0f}ms is more than --latency-ratio {gates.latency_ratio:g} "
                          f"times the primary's {theirs * 1000:.0f}ms")
    return failed, unknown


def judge(gates: Gates, canary: Numbers, primary: Numbers) -> Verdict:
    """The window's verdict: failed when a gate is broken, inconclusive when a gate cannot be judged
    (too few canary requests or timings), else healthy."""
    failed = _error_gates(gates, canary, primary)
    late, unknown = _latency_gates(gates, canary, primary)
    failed += late
    if failed:
        return Verdict(FAILED, tuple(failed), canary, primary)
    if canary.requests < gates.min_requests:
        unknown.insert(0, f"canary served {canary.requests} requests, fewer than --min-requests "
                          f"{gates.min_requests}")
    if unknown:
        return Verdict(INCONCLUSIVE, tuple(unknown), canary, primary)
    return Verdict(HEALTHY, ("every gate passed",), canary, primary)


def record(verdict: Verdict, canary: str, primary: str, weight: int, window: float, at: str) -> str:
    """The RouteTable annotation (`kubectl-canary.io/analysis`) for the last verdict: compact JSON."""
    return json.dumps({
        "outcome": verdict.outcome, "weight": weight, "windowSeconds": round(window, 1), "at": at,
        "reasons": list(verdict.reasons),
        "versions": {canary: {"role": "canary", **verdict.canary.to_dict()},
                     primary: {"role": "primary", **verdict.primary.to_dict()}},
    }, separators=(",", ":"), sort_keys=True)


def recorded_lines(text: str | None) -> list[str]:
    """`status` lines for a recorded verdict (none without one; one line for an unreadable one)."""
    if not text:
        return []
    try:
        doc = json.loads(text)
        versions = doc["versions"]
        lines = [f"Analysis:    {doc['outcome']} at weight {doc['weight']}% ({doc['at']}): "
                 f"{'; '.join(doc['reasons'])}"]
        for version, v in sorted(versions.items()):
            numbers = Numbers(int(v["requests"]), int(v["failed"]), int(v.get("timeouts", 0)),
                              tuple((q, float(ms) / 1000) for q, ms in (v.get("latencyMs") or {}).items()),
                              int(v.get("timed", 0)))
            lines.append(f"             {version} ({v['role']}): {numbers.describe()}")
        return lines
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"Analysis:    unreadable annotation: {text[:80]}"]
