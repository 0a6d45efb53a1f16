"""Load benchmark of the real `canary-webhook serve` over HTTPS with keep-alive clients.

Starts the server (gunicorn, TLS, `--state` with the seed's echo service, built with one endpoint more by
`baseline_server.py`; 1 worker x 8 threads by default) and drives `/allow` (parses the AdmissionReview
and admits: the cost of HTTP, TLS, JSON, Flask and gunicorn alone, the baseline on the same stack),
`/validate` (a RouteTable CREATE that passes every check) and `/mutate` (one whose weights 1,3 are
normalised to 25,75 on every route). Prints, each next to /allow and the issue's target (met/missed):

- max throughput on a 10-route RouteTable: closed loop, `--clients` threads each with its own
  keep-alive `requests.Session`, and its ratio to /allow (target >= 0.7x);
- p99 at a fixed 200 req/s on 10 routes: open loop, requests paced at fixed send times over a few
  keep-alive clients, latency counted from the scheduled send time so that queueing counts (< 10 ms);
- p50 at 1, 100, 1000 and 10,000 routes from one client, one request at a time (1000 routes < 50 ms,
  10,000 routes < 2 s); the 10,000-route cells send a bounded few requests.

Numbers depend on the machine; the ratios to /allow are what carries over. It asserts nothing.

    .venv/bin/python benchmarks/webhook_load.py [--seconds 2] [--clients 4] [--threads 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import baseline_server
import requests
import yaml

from webhook.tls import certs

ENDPOINTS = ("allow", "validate", "mutate")
THROUGHPUT_ROUTES = 10
THROUGHPUT_TARGET = 0.7  # of /allow
PACED_RATE = 200.0  # req/s
PACED_TARGET_MS = 10.0  # p99
# p50 per size, and the target for /validate and /mutate at that size (None: no target).
SIZES: dict[int, float | None] = {1: None, 100: None, 1000: 50.0, 10_000: 2000.0}
BIG = 10_000  # cells of this size send at most --big-requests requests, for at most --big-seconds


def destination(version: str) -> dict[str, Any]:
    return {"upstream": {"name": "echo", "namespace": "echo"}, "subset": {"values": {"version": version}}}


def routetable(routes: int, weights: tuple[int, int]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.solo.io/v1",
        "kind": "RouteTable",
        "metadata": {"name": "echo-routes", "namespace": "echo", "labels": {"apiGroup": "example"}},
        "spec": {"routes": [
            {"matchers": [{"prefix": f"/echo/{i}"}],
             "routeAction": {"multi": {"destinations": [
                 {"destination": destination("v1"), "weight": weights[0]},
                 {"destination": destination("v2"), "weight": weights[1]}]}}}
            for i in range(routes)
        ]},
    }


def review(obj: dict[str, Any]) -> bytes:
    return json.dumps({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-4000-8000-000000000000",
            "kind": {"group": "gateway.solo.io", "version": "v1", "kind": "RouteTable"},
            "resource": {"group": "gateway.solo.io", "version": "v1", "resource": "routetables"},
            "namespace": "echo", "name": "echo-routes", "operation": "CREATE", "object": obj,
        },
    }).encode()


def state_objects() -> list[dict[str, Any]]:
    labels = {"app": "echo"}
    deployments = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"echo-{v}", "namespace": "echo"},
         "spec": {"template": {"metadata": {"labels": {**labels, "version": v}}}}}
        for v in ("v1", "v2")
    ]
    upstream = {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": "echo", "namespace": "echo"},
                "spec": {"kube": {"selector": labels, "serviceName": "echo", "serviceNamespace": "echo",
                                  "servicePort": 8080, "subsetSpec": {"selectors": [{"keys": ["version"]}]}}}}
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echo"}}, upstream, *deployments]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session(ca: Path) -> requests.Session:
    found = requests.Session()
    found.trust_env = False  # REQUESTS_CA_BUNDLE would override the CA
    found.verify = str(ca)
    return found


def start_server(work: Path, threads: int, workers: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    tls, state = work / "tls", work / "state"
    certs.issue(tls, ["localhost"], ["127.0.0.1"], days=1)
    state.mkdir()
    (state / "echo.yaml").write_text(yaml.safe_dump_all(state_objects()), encoding="utf-8")
    port, probe_port = free_port(), free_port()
    cmd = [*baseline_server.command(), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--probe-port", str(probe_port), "--cert-dir", str(tls), "--state", str(state),
           "--threads", str(threads), "--workers", str(workers)]
    log = open(work / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url, ca = f"https://127.0.0.1:{port}", tls / certs.CA_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(work / 'server.log').read_text()}")
        try:
            if session(ca).get(f"http://127.0.0.1:{probe_port}/healthz", timeout=2).status_code == 200:
                return proc, url, ca
        except requests.RequestException:
            time.sleep(0.1)
    stop_server(proc)
    raise SystemExit("server did not become healthy")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def drive(url: str, ca: Path, body: bytes, clients: int, seconds: float,
          most: int | None = None) -> tuple[int, float, list[float]]:
    """Requests from `clients` threads for `seconds` (and at most `most` per client; at least one);
    returns (count, elapsed, latencies in seconds)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        with session(ca) as http:
            post(http, url, body, errors)  # connect (TLS handshake) before measuring
            start.wait()
            end = time.perf_counter() + seconds
            while (time.perf_counter() < end or not latencies[index]) and not errors:
                if most is not None and len(latencies[index]) >= most:
                    return
                began = time.perf_counter()
                post(http, url, body, errors)
                latencies[index].append(time.perf_counter() - began)

    elapsed = run_clients(client, clients, start)
    if errors:
        raise SystemExit(f"unexpected answer from {url}: {errors[0]}")
    return sum(len(per) for per in latencies), elapsed, [x for per in latencies for x in per]


def paced(url: str, ca: Path, body: bytes, clients: int, rate: float, seconds: float) -> tuple[float, list[float]]:
    """Open loop: request i is due at start + i/rate, sent by client i % clients as soon as it is free
    (at once when it is late); its latency counts from when it was due, so queueing anywhere counts.
    Returns (the rate achieved, latencies in seconds)."""
    count = max(1, int(rate * seconds))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    origin: list[float] = []
    finished: list[float] = [0.0] * clients

    def client(index: int) -> None:
        with session(ca) as http:
            post(http, url, body, errors)
            start.wait()
            for i in range(index, count, clients):
                due = origin[0] + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                post(http, url, body, errors)
                latencies[index].append(time.perf_counter() - due)
                if errors:
                    return
            finished[index] = time.perf_counter()

    def begin() -> None:
        origin.append(time.perf_counter() + 0.05)

    run_clients(client, clients, start, begin)
    if errors:
        raise SystemExit(f"unexpected answer from {url}: {errors[0]}")
    return count / (max(finished) - origin[0]), [x for per in latencies for x in per]


def post(http: requests.Session, url: str, body: bytes, errors: list[str]) -> None:
    answer = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
    if answer.status_code != 200 or not answer.json()["response"]["allowed"]:
        errors.append(f"HTTP {answer.status_code} {answer.text[:300]}")


def run_clients(client: Any, clients: int, start: threading.Barrier, before: Any = None) -> float:
    workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for worker in workers:
        worker.start()
    if before is not None:
        before()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def bodies(routes: int) -> dict[str, bytes]:
    """The request per endpoint: /allow and /validate get a valid RouteTable, /mutate one to normalise."""
    valid = review(routetable(routes, (25, 75)))
    return {"allow": valid, "validate": valid, "mutate": review(routetable(routes, (1, 3)))}


def verdict(value: float, target: float, at_least: bool = False) -> str:
    return "met" if (value >= target if at_least else value < target) else "MISSED"


def throughput(url: str, ca: Path, args: argparse.Namespace) -> None:
    sent = bodies(THROUGHPUT_ROUTES)
    print(f"\nmax throughput, {THROUGHPUT_ROUTES}-route RouteTable: {args.clients} keep-alive clients, closed loop, "
          f"{args.seconds:g} s per cell")
    print(f"{'endpoint':>9} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'x /allow':>9} {'target':>9}")
    rates: dict[str, float] = {}
    for endpoint in ENDPOINTS:
        count, elapsed, latencies = drive(f"{url}/{endpoint}", ca, sent[endpoint], args.clients, args.seconds)
        rates[endpoint] = rate = count / elapsed
        ratio = rate / rates["allow"]
        met = verdict(ratio, THROUGHPUT_TARGET, at_least=True)
        goal = "baseline" if endpoint == "allow" else f">= {THROUGHPUT_TARGET:.1f}x {met}"
        print(f"{'/' + endpoint:>9} {count:>9} {rate:>8.1f} {percentile(latencies, 50) * 1000:>8.2f} "
              f"{ratio:>8.2f}x {goal:>9}", flush=True)


def fixed_rate(url: str, ca: Path, args: argparse.Namespace) -> None:
    sent = bodies(THROUGHPUT_ROUTES)
    print(f"\np99 at {PACED_RATE:g} req/s, {THROUGHPUT_ROUTES}-route RouteTable: open loop over {args.paced_clients} "
          f"keep-alive clients, {args.seconds:g} s, latency from each request's scheduled send time")
    print(f"{'endpoint':>9} {'requests':>9} {'got/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x /allow':>9} {'target':>12}")
    p99s: dict[str, float] = {}
    for endpoint in ENDPOINTS:
        achieved, latencies = paced(f"{url}/{endpoint}", ca, sent[endpoint], args.paced_clients, PACED_RATE,
                                    args.seconds)
        p99s[endpoint] = p99 = percentile(latencies, 99) * 1000
        print(f"{'/' + endpoint:>9} {len(latencies):>9} {achieved:>8.1f} {percentile(latencies, 50) * 1000:>8.2f} "
              f"{p99:>8.2f} {p99 / p99s['allow']:>8.2f}x {'< 10 ms ' + verdict(p99, PACED_TARGET_MS):>12}",
              flush=True)


def sizes(url: str, ca: Path, args: argparse.Namespace) -> None:
    print(f"\np50 by RouteTable size: one client, one request at a time, {args.seconds:g} s per cell "
          f"({BIG:,} routes: at most {args.big_requests} requests or {args.big_seconds:g} s)")
    print(f"{'routes':>6} {'body KiB':>9} {'endpoint':>9} {'requests':>9} {'p50 ms':>9} {'x /allow':>9} "
          f"{'target':>16}")
    for routes, target in SIZES.items():
        sent = bodies(routes)
        big = routes >= BIG
        p50s: dict[str, float] = {}
        for endpoint in ENDPOINTS:
            count, _, latencies = drive(f"{url}/{endpoint}", ca, sent[endpoint], 1,
                                        args.big_seconds if big else args.seconds,
                                        most=args.big_requests if big else None)
            p50s[endpoint] = p50 = percentile(latencies, 50) * 1000
            goal = "baseline" if endpoint == "allow" else "none" if target is None else (
                f"< {target / 1000:g} s " if target >= 1000 else f"< {target:g} ms ") + verdict(p50, target)
            print(f"{routes:>6} {len(sent[endpoint]) / 1024:>9.1f} {'/' + endpoint:>9} {count:>9} {p50:>9.2f} "
                  f"{p50 / p50s['allow']:>8.2f}x {goal:>16}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measurement time per cell")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients (throughput)")
    parser.add_argument("--paced-clients", type=int, default=4, help="keep-alive clients sharing the 200 req/s")
    parser.add_argument("--big-requests", type=int, default=24, help="most requests per 10,000-route cell")
    parser.add_argument("--big-seconds", type=float, default=15.0,
                        help="time per 10,000-route cell (after it no new request starts; at least one is sent)")
    parser.add_argument("--threads", type=int, default=8, help="server threads (serve --threads)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (serve --workers)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        proc, url, ca = start_server(Path(tmp), args.threads, args.workers)
        try:
            print(f"canary-webhook serve: {args.workers} worker(s) x {args.threads} threads, TLS, keep-alive, "
                  f"--state (cache-free lookup); {os.cpu_count()} CPUs; /allow is the allow-all baseline")
            throughput(url, ca, args)
            fixed_rate(url, ca, args)
            sizes(url, ca, args)
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
