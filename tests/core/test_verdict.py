"""The verdict on one analysis window, and the analysis section of a CanaryPolicy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_canary.core.analysis_policy import AnalysisDefaults, merged, parse_analysis
from kubectl_canary.core.errors import InvalidObject, UsageError
from kubectl_canary.core.hoststats import HostStats
from kubectl_canary.core.verdict import (
    FAILED,
    HEALTHY,
    INCONCLUSIVE,
    Gates,
    Numbers,
    judge,
    parse_duration,
    parse_latency,
    percentile,
    record,
    recorded_lines,
)

FAST = [0.010] * 50
SLOW = [0.400] * 50


def n(requests: int, failed: int = 0, samples: list[float] | None = None) -> Numbers:
    return Numbers.of(HostStats(rq_total=requests, rq_success=requests - failed, rq_error=failed), samples or [])


@pytest.mark.parametrize("gates, canary, primary, outcome, reason", [
    (Gates(), n(100), n(300), HEALTHY, "every gate passed"),
    (Gates(min_requests=20), n(19), n(300), INCONCLUSIVE, "fewer than --min-requests 20"),
    (Gates(min_requests=20), n(0), n(0), INCONCLUSIVE, "served 0 requests"),
    # few requests, but their failures alone break the gate over min_requests: failed, not inconclusive
    (Gates(max_error_rate=5, min_requests=20), n(3, 3), n(300), FAILED, "15.0% (3 of 3)"),
    (Gates(max_error_rate=5, min_requests=20), n(3, 1), n(300), INCONCLUSIVE, "fewer than --min-requests"),
    (Gates(max_error_rate=5, error_rate_margin=None), n(100, 6), n(300), FAILED, "above --max-error-rate 5%"),
    (Gates(max_error_rate=5, error_rate_margin=None), n(100, 5), n(300), HEALTHY, "every gate passed"),
    # no worse than the primary by more than the margin
    (Gates(max_error_rate=10, error_rate_margin=1), n(100, 4), n(100, 2), FAILED, "above the primary's 2.0%"),
    (Gates(max_error_rate=10, error_rate_margin=1), n(100, 3), n(100, 2), HEALTHY, "every gate passed"),
    (Gates(max_error_rate=None, error_rate_margin=None), n(100, 100), n(100), HEALTHY, "every gate passed"),
    # latency
    (Gates(max_latency=(("p99", 0.5),)), n(100, 0, FAST), n(100), HEALTHY, "every gate passed"),
    (Gates(max_latency=(("p99", 0.2),)), n(100, 0, SLOW), n(100), FAILED, "p99 400ms is above"),
    (Gates(max_latency=(("p99", 0.5),)), n(100, 0, FAST[:3]), n(100), INCONCLUSIVE, "only 3 canary requests timed"),
    (Gates(latency_ratio=2), n(100, 0, SLOW), n(100, 0, FAST), FAILED, "more than --latency-ratio 2"),
    (Gates(latency_ratio=2), n(100, 0, FAST), n(100, 0, FAST), HEALTHY, "every gate passed"),
    (Gates(latency_ratio=2), n(100, 0, FAST), n(100), INCONCLUSIVE, "only 0 primary requests timed"),
])
def test_judge(gates: Gates, canary: Numbers, primary: Numbers, outcome: str, reason: str) -> None:
    verdict = judge(gates, canary, primary)
    assert verdict.outcome == outcome
    assert reason in "; ".join(verdict.reasons)


def test_verdict_line_shows_the_numbers() -> None:
    line = judge(Gates(max_error_rate=5), n(40, 10, FAST), n(120, 0, FAST)).describe("v2", "v1")
    assert line.startswith("failed: canary v2: 40 requests, 10 failed (25.0%), p50=10ms")
    assert "primary v1: 120 requests, 0 failed (0.0%)" in line


@pytest.mark.parametrize("samples, quantile, expected", [
    ([], "p99", None), ([3.0], "p50", 3.0), ([1.0, 2.0, 3.0, 4.0], "p50", 2.0),
    ([float(i) for i in range(1, 101)], "p99", 99.0), ([float(i) for i in range(1, 101)], "p90", 90.0),
])
def test_percentile(samples: list[float], quantile: str, expected: float | None) -> None:
    assert percentile(samples, quantile) == expected


@pytest.mark.parametrize("text, seconds", [("500ms", 0.5), ("15s", 15), ("1m30s", 90), ("2h", 7200), ("1.5s", 1.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "--interval") == seconds


@pytest.mark.parametrize("text", ["", "15", "1d", "ms", "1m 30s", "-1s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--interval"):
        parse_duration(text, "--interval")


@pytest.mark.parametrize("text, expected", [("p99=500ms", ("p99", 0.5)), ("p50=1s", ("p50", 1.0))])
def test_parse_latency(text: str, expected: tuple[str, float]) -> None:
    assert parse_latency(text) == expected


@pytest.mark.parametrize("text", ["500ms", "p95=1s", "p99="])
def test_parse_latency_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--max-latency"):
        parse_latency(text)


def test_recorded_verdict_round_trips_into_status_lines() -> None:
    verdict = judge(Gates(), n(100, 0, FAST), n(300))
    text = record(verdict, "v2", "v1", 25, 15.0, "2026-12-07T13:00:00Z")
    assert json.loads(text)["versions"]["v2"]["requests"] == 100
    lines = recorded_lines(text)
    assert lines[0] == "Analysis:    healthy at weight 25% (2026-12-07T13:00:00Z): every gate passed"
    assert lines[1].strip().startswith("v1 (primary): 300 requests, 0 failed")
    assert "v2 (canary): 100 requests, 0 failed (0.0%), p50=10ms" in lines[2]
    assert recorded_lines(None) == []
    assert recorded_lines("{bad")[0].startswith("Analysis:    unreadable")


WHERE = "CanaryPolicy p: spec"


@pytest.mark.parametrize("section, expected", [
    (None, None),
    ({}, AnalysisDefaults()),
    ({"maxErrorRate": 2, "errorRateMargin": 0.5, "minRequests": 50, "maxLatency": {"p99": "500ms"},
      "latencyRatio": 1.5, "interval": "1m", "maxInconclusive": 3, "onInconclusive": "Abort"},
     AnalysisDefaults(2.0, 0.5, 50, (("p99", 0.5),), 1.5, 60.0, 3, "Abort")),
])
def test_parse_analysis(section: Any, expected: AnalysisDefaults | None) -> None:
    assert parse_analysis(section, WHERE) == expected


@pytest.mark.parametrize("section, message", [
    ({"maxErrorRatio": 2}, "analysis.maxErrorRatio is not an analysis field"),
    ({"maxErrorRate": 200}, "analysis.maxErrorRate must be a number from 0 to 100"),
    ({"maxLatency": {"p95": "1s"}}, "analysis.maxLatency must map"),
    ({"maxLatency": {"p99": 500}}, "analysis.maxLatency.p99 must be a duration"),
    ({"interval": "soon"}, "invalid CanaryPolicy p: spec.analysis.interval 'soon'"),
    ({"onInconclusive": "pause"}, "must be Pause or Abort"),
    ({"minRequests": -1}, "analysis.minRequests must be a whole number"),
    ([], "analysis must be an object"),
])
def test_parse_analysis_refuses(section: Any, message: str) -> None:
    with pytest.raises(InvalidObject, match=message.replace(".", r"\.")):
        parse_analysis(section, WHERE)


def test_merged_takes_the_strictest() -> None:
    a = AnalysisDefaults(max_error_rate=2, min_requests=10, max_latency=(("p99", 0.5),), interval=30,
                         on_inconclusive="Pause")
    b = AnalysisDefaults(max_error_rate=1, min_requests=50, max_latency=(("p50", 0.1), ("p99", 0.8)),
                         latency_ratio=2, on_inconclusive="Abort")
    assert merged([a, None, b]) == AnalysisDefaults(1.0, None, 50, (("p50", 0.1), ("p99", 0.5)), 2, 30, None,
                                                    "Abort")
    assert merged([]) == AnalysisDefaults()
