"""A CanaryPolicy's `analysis` section: the defaults a platform team sets for `shift --step` analysis.

    analysis:
      maxErrorRate: 1          # percent of the canary's requests (5xx and connection failures)
      errorRateMargin: 1       # percentage points above the primary's error rate
      minRequests: 50          # fewer canary requests in a window: inconclusive
      maxLatency: {p99: 500ms} # absolute, per quantile (needs a latency source: --load)
      latencyRatio: 1.5        # canary p99 against the primary's
      interval: 1m             # default window
      maxInconclusive: 3       # windows to extend before --on-inconclusive
      onInconclusive: Pause    # or Abort

Flags given on the command line win over these. Where several policies govern a namespace, each field
takes the strictest value any of them sets. The webhook enforces nothing of this section: a shift is
judged by the command that makes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from kubectl_canary.core.errors import InvalidObject, UsageError
from kubectl_canary.core.verdict import QUANTILES, parse_duration

ANALYSIS: Final = "analysis"
KEYS: Final = ("maxErrorRate", "errorRateMargin", "minRequests", "maxLatency", "latencyRatio", "interval",
               "maxInconclusive", "onInconclusive")
PAUSE: Final = "Pause"
ABORT: Final = "Abort"


@dataclass(frozen=True)
class AnalysisDefaults:
    """The section as read; None where a field is not set. Latencies and interval in seconds."""

    max_error_rate: float | None = None
    error_rate_margin: float | None = None
    min_requests: int | None = None
    max_latency: tuple[tuple[str, float], ...] = ()
    latency_ratio: float | None = None
    interval: float | None = None
    max_inconclusive: int | None = None
    on_inconclusive: str | None = None

    def rules(self) -> list[str]:
        """`analysis.field=value` for `status`."""
        shown = {"maxErrorRate": self.max_error_rate, "errorRateMargin": self.error_rate_margin,
                 "minRequests": self.min_requests, "latencyRatio": self.latency_ratio,
                 "interval": None if self.interval is None else f"{self.interval:g}s",
                 "maxInconclusive": self.max_inconclusive, "onInconclusive": self.on_inconclusive}
        found = [f"{ANALYSIS}.{k}={v:g}" if isinstance(v, float) else f"{ANALYSIS}.{k}={v}"
                 for k, v in shown.items() if v is not None]
        found += [f"{ANALYSIS}.maxLatency.{q}={v * 1000:g}ms" for q, v in self.max_latency]
        return found


def _number(section: Mapping[str, Any], key: str, where: str, low: float, high: float | None) -> float | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low or (high and value > high):
        bound = f"from {low:g} to {high:g}" if high else f"at least {low:g}"
        raise InvalidObject(f"{where}.{key} must be a number {bound}, not {value!r}")
    return float(value)


def _duration(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise InvalidObject(f"{where} must be a duration such as 500ms or 1m, not {value!r}")
    try:
        return parse_duration(value, where)
    except UsageError as err:
        raise InvalidObject(str(err)) from err


def parse_analysis(section: Any, where: str) -> AnalysisDefaults | None:
    """The `analysis` section of a CanaryPolicy spec (`where`: `CanaryPolicy NAME: spec`)."""
    if section is None:
        return None
    where = f"{where}.{ANALYSIS}"
    if not isinstance(section, dict):
        raise InvalidObject(f"{where} must be an object")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise InvalidObject(f"{where}.{unknown[0]} is not an analysis field (known: {', '.join(KEYS)})")
    latency = section.get("maxLatency") or {}
    if not isinstance(latency, dict) or set(latency) - set(QUANTILES):
        raise InvalidObject(f"{where}.maxLatency must map {', '.join(QUANTILES)} to durations, e.g. {{p99: 500ms}}")
    on = section.get("onInconclusive")
    if on is not None and on not in (PAUSE, ABORT):
        raise InvalidObject(f"{where}.onInconclusive must be {PAUSE} or {ABORT}, not {on!r}")
    steps, requests = section.get("maxInconclusive"), section.get("minRequests")
    for key, value in (("maxInconclusive", steps), ("minRequests", requests)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidObject(f"{where}.{key} must be a whole number, not {value!r}")
    interval = section.get("interval")
    return AnalysisDefaults(
        max_error_rate=_number(section, "maxErrorRate", where, 0, 100),
        error_rate_margin=_number(section, "errorRateMargin", where, 0, 100),
        min_requests=requests,
        max_latency=tuple((q, _duration(latency[q], f"{where}.maxLatency.{q}")) for q in QUANTILES if q in latency),
        latency_ratio=_number(section, "latencyRatio", where, 1, None),
        interval=None if interval is None else _duration(interval, f"{where}.interval"),
        max_inconclusive=steps,
        on_inconclusive=on,
    )


def _strictest(name: str, values: list[Any]) -> Any:
    if name == "on_inconclusive":
        return ABORT if ABORT in values else values[0]
    if name == "min_requests":
        return max(values)
    if name == "max_latency":
        merged: dict[str, float] = {}
        for pairs in values:
            for q, v in pairs:
                merged[q] = min(v, merged.get(q, v))
        return tuple((q, merged[q]) for q in QUANTILES if q in merged)
    if name == "interval":
        return max(values)
    return min(values)


def merged(sections: Iterable[AnalysisDefaults | None]) -> AnalysisDefaults:
    """Several policies' sections as one: per field the strictest value set (longest interval, most
    requests, lowest rates, latencies and ratio, fewest inconclusive windows, Abort over Pause)."""
    present = [s for s in sections if s is not None]
    result = AnalysisDefaults()
    for f in fields(AnalysisDefaults):
        values = [getattr(s, f.name) for s in present if getattr(s, f.name) not in (None, ())]
        if values:
            result = replace(result, **{f.name: _strictest(f.name, values)})
    return result
