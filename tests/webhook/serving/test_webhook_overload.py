"""The real `canary-webhook serve`, started as deploy/base's Deployment runs it, at two and three times the rate
it sustains, for 30 s each, with load that opens connections as kube-apiserver does (whflood: vegeta, Go's
client as client-go configures it, hundreds of connections when the answers slow down), while the shipped
readiness and liveness probes run as the kubelet runs them (port, path, scheme and timeoutSeconds read from
the manifest; a new connection every second, from a process of its own).

What is asserted is what a cluster would notice, each bound the protocol limit it protects: every probe is a
200 within its timeoutSeconds (else the kubelet takes the pod out of the Service, or restarts it, mid-burst);
every review is answered, 200 or 503 with Retry-After, or its connection refused at once, within the
configurations' timeoutSeconds (else kube-apiserver gives up and applies the failurePolicy); once the load
stops every review is answered 200 again. The latencies and shed shares are printed by
benchmarks/webhook_overload.py, not asserted here. Loopback only: the "pod address" is one of 127/8.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import whflood
import yaml
from test_webhook_server import write_state
from whprobes import Prober, pod_address, shipped_listeners, shipped_probes
from whserver import serve
from whsupport import admission_review, cluster, routetable, weighted

from webhook.tls import certs

pytestmark = pytest.mark.load

VALUES = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "canary-webhook" / "values.yaml"
# What kube-apiserver waits for a webhook's answer: the chart's timeoutSeconds.
TIMEOUT_SECONDS = yaml.safe_load(VALUES.read_text(encoding="utf-8"))["timeoutSeconds"]
OVERLOAD_SECONDS = 30  # the issue's "at least 30 s"
RECOVERY_SECONDS = 5  # once the load stops, every review is answered again within this
# 200 routes: a review costs the server several milliseconds, so that at 3x (a few hundred calls a second) the
# overload is the server's, not the load generator's: both share two cores here, where kube-apiserver would
# have its own (with 100 routes, 3x is over 700 calls a second and vegeta's own handshakes starve the server).
ROUTES = 200
BODY = json.dumps(admission_review(routetable([weighted([50, 50], prefix=f"/p{i}") for i in range(ROUTES)]))).encode()


def test_twice_and_three_times_the_sustained_rate_are_shed_while_probes_and_new_connections_are_answered(
    tmp_path: Path,
) -> None:
    host = pod_address()
    certs.issue(tmp_path / "tls", ["localhost"], [host], days=1)
    ca = tmp_path / "tls" / certs.CA_FILE
    state = write_state(tmp_path / "state", cluster())
    args = ["--host", host, *shipped_listeners(), "--cert-dir", str(tmp_path / "tls"), "--state", str(state)]
    with serve(args, tmp_path / "server.log") as running:
        capacity = whflood.sustained(running.url, ca, BODY)
        assert capacity > 0
        for multiple in (2, 3):
            probers = {probe: Prober(probe.url(host), seconds=OVERLOAD_SECONDS, period=1.0, timeout=probe.timeout)
                       for probe in shipped_probes()}
            outcomes = whflood.flood(running.url, ca, BODY, rate=multiple * capacity, seconds=OVERLOAD_SECONDS,
                                     timeout=TIMEOUT_SECONDS)
            for probe, prober in probers.items():
                results = prober.results()
                assert len(results) >= OVERLOAD_SECONDS - 2, (probe, results)
                late = [(seconds, status) for seconds, status in results if status != 200 or seconds >= probe.timeout]
                assert late == [], f"{multiple}x: {probe.kind} {probe.url(host)} failed: {late}"
            statuses = answered_in_time(outcomes, multiple)
            # the excess is shed with a 503 to retry, and the server keeps deciding what it can
            assert statuses[503] > 0 and statuses[200] > 0, statuses
            recovered(whflood.flood(running.url, ca, BODY, rate=capacity / 2, seconds=RECOVERY_SECONDS + 3,
                                    timeout=TIMEOUT_SECONDS), multiple)


def answered_in_time(outcomes: list[whflood.Outcome], multiple: int) -> Counter[int]:
    """Every review answered (200, or 503 to retry), or its connection refused at once, before kube-apiserver
    would give up on it; the statuses."""
    statuses = Counter(o.status for o in outcomes)
    timed_out = [o for o in outcomes if whflood.timed_out(o)]
    assert timed_out == [], (f"{multiple}x: {len(timed_out)} reviews unanswered within {TIMEOUT_SECONDS} s "
                             f"({statuses}), sent at {[round(o.due, 1) for o in timed_out[:20]]} s")
    assert all(o.latency < TIMEOUT_SECONDS for o in outcomes), max(o.latency for o in outcomes)
    assert set(statuses) <= {200, 503, 0}, statuses
    return statuses


def recovered(after: list[whflood.Outcome], multiple: int) -> None:
    """Half the sustained rate once the flood has stopped: every review answered in time, and from
    RECOVERY_SECONDS on every one of them decided (200)."""
    answered_in_time(after, multiple)
    late = [(round(o.due, 2), o.status) for o in after if o.due >= RECOVERY_SECONDS and o.status != 200]
    assert late == [], f"{multiple}x: still not decided {RECOVERY_SECONDS} s after the load stopped: {late}"
