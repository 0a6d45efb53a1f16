"""Overload benchmark: latencies of the real `canary-webhook serve` when reviews come faster than it decides them.

Starts the server as benchmarks/webhook_load.py does, finds what it sustains on a heavy (300-route)
RouteTable with a closed loop of keep-alive clients, then sends in an open loop (each request due at its
time, whatever the answers, as kube-apiserver does) three phases side by side: half that rate (the
baseline), `--overload` times it (default 3x), and half again (once the load drops). While the overload
runs, a process of its own probes /healthz as the kubelet would. Prints per phase the answers by status,
and p50 and p99 of the accepted (200) and the shed (503) reviews, each next to the baseline's accepted
p50, with the targets: shed p50 under 1 s (a 503 comes at once, not at the caller's timeout), accepted
p50 under 2 s, the slowest probe under the readiness probe's 2 s timeout. The load generators are the
ones tests/webhook/test_webhook_serving.py uses for the behaviour (every review answered 200 or 503,
probes answering, nothing shed once the load drops); the numbers are here. It asserts nothing.

    .venv/bin/python benchmarks/webhook_overload.py [--seconds 5] [--overload 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "webhook"))
from webhook_load import review, routetable, start_server, stop_server
from whclients import Prober
from whload import Outcome, open_loop, percentile, sustained

ROUTES = 300
SHED_TARGET = 1.0  # s, p50 of the 503s
ACCEPTED_TARGET = 2.0  # s, p50 of the 200s while overloaded
PROBE_TIMEOUT = 2.0  # s, the chart's readinessProbe timeoutSeconds


def verdict(value: float, target: float) -> str:
    return "met" if value < target else "MISSED"


def p50_against(name: str, latencies: list[float], target: float) -> str:
    if not latencies:
        return f"{name}: none"
    p50 = percentile(latencies, 0.5)
    return f"{name} p50 {p50:.3f} s (< {target:g} s {verdict(p50, target)})"


def row(name: str, rate: float, outcomes: list[Outcome], baseline: float) -> None:
    statuses = Counter(o.status for o in outcomes)
    cells = [f"{name:>9} {rate:>7.1f} {statuses[200]:>6} {statuses[503]:>6} {statuses[0]:>9}"]
    for status in (200, 503):
        latencies = [o.latency for o in outcomes if o.status == status]
        if latencies:
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            cells.append(f"{p50 * 1000:>8.0f} {p99 * 1000:>8.0f} {p50 / baseline:>7.1f}x")
        else:
            cells.append(f"{'-':>8} {'-':>8} {'-':>8}")
    print(" ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the overload phase")
    parser.add_argument("--overload", type=float, default=3.0, help="overload rate over the sustained one")
    parser.add_argument("--threads", type=int, default=8, help="server threads (serve --threads)")
    args = parser.parse_args()
    body = json.loads(review(routetable(ROUTES, (50, 50))))

    with tempfile.TemporaryDirectory(prefix="webhook-overload-") as tmp:
        proc, url, ca = start_server(Path(tmp), args.threads, 1)
        try:
            capacity = sustained(f"{url}/validate", ca, body, seconds=2, clients=4)
            print(f"canary-webhook serve: 1 worker x {args.threads} threads; {os.cpu_count()} CPUs; "
                  f"{ROUTES}-route RouteTable, /validate sustains {capacity:.1f} req/s (4 keep-alive clients)")
            base = open_loop(f"{url}/validate", ca, body, rate=capacity / 2, seconds=2, connections=8)
            prober = Prober(int(url.rsplit(":", 1)[1]), ca, seconds=args.seconds)
            over = open_loop(f"{url}/validate", ca, body, rate=args.overload * capacity, seconds=args.seconds)
            probes = prober.results()
            after = open_loop(f"{url}/validate", ca, body, rate=capacity / 2, seconds=2, connections=8)
        finally:
            stop_server(proc)

    baseline = percentile([o.latency for o in base if o.status == 200], 0.5) or 1e-9
    print("\nopen loop, latency from each request's due time; x: over the baseline's accepted p50")
    print(f"{'phase':>9} {'req/s':>7} {'200':>6} {'503':>6} {'no answer':>9} "
          f"{'200 p50':>8} {'200 p99':>8} {'x base':>8} {'503 p50':>8} {'503 p99':>8} {'x base':>8}")
    row("baseline", capacity / 2, base, baseline)
    row(f"{args.overload:g}x", args.overload * capacity, over, baseline)
    row("after", capacity / 2, after, baseline)

    shed = [o.latency for o in over if o.status == 503]
    accepted = [o.latency for o in over if o.status == 200]
    slowest = max((seconds for seconds, _ in probes), default=0.0)
    print(f"\n{p50_against('shed', shed, SHED_TARGET)}; {p50_against('accepted', accepted, ACCEPTED_TARGET)}; "
          f"slowest of {len(probes)} probes {slowest:.3f} s (< {PROBE_TIMEOUT:g} s {verdict(slowest, PROBE_TIMEOUT)}), "
          f"not 200: {sum(status != 200 for _, status in probes)}")


if __name__ == "__main__":
    main()
