"""Load benchmark of the real `canary-webhook serve` over HTTPS with keep-alive clients.

Starts the server (gunicorn, TLS, `--state` with the seed's echo service, the hidden
`--allow-endpoint`), then for RouteTables of 1, 10, 100 and 1000 routes drives `/allow` (parses the
AdmissionReview and admits: the cost of HTTP, TLS, JSON and Flask alone), `/validate` (a RouteTable
that passes every check) and `/mutate` (one whose weights 1,3 are normalised to 25,75 on every route)
from concurrent threads, each with its own keep-alive `requests.Session`. Prints requests per second
and p50/p99 latency per cell. Numbers depend on the machine; compare the rows, not the absolutes.

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
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from webhook import certs

SIZES = (1, 10, 100, 1000)
ENDPOINTS = ("allow", "validate", "mutate")


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
    port = free_port()
    script = Path(sys.executable).with_name("canary-webhook")
    cmd = [str(script) if script.exists() else "canary-webhook", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--cert-dir", str(tls), "--state", str(state), "--allow-endpoint",
           "--threads", str(threads), "--workers", str(workers)]
    log = open(work / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url, ca = f"https://127.0.0.1:{port}", tls / certs.CA_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(work / 'server.log').read_text()}")
        try:
            if session(ca).get(f"{url}/healthz", timeout=2).status_code == 200:
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


def drive(url: str, ca: Path, body: bytes, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    """Requests from `clients` threads for `seconds`; returns (count, elapsed, latencies in seconds)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    headers = {"Content-Type": "application/json"}

    def client(index: int) -> None:
        with session(ca) as http:
            http.post(url, data=body, headers=headers, timeout=60)  # connect (TLS handshake) before measuring
            start.wait()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end or not latencies[index]:
                began = time.perf_counter()
                answer = http.post(url, data=body, headers=headers, timeout=60)
                latencies[index].append(time.perf_counter() - began)
                if answer.status_code != 200 or not answer.json()["response"]["allowed"]:
                    errors.append(answer.text[:200])
                    return

    workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"unexpected answer: {errors[0]}")
    return sum(len(per) for per in latencies), elapsed, [x for per in latencies for x in per]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measurement time per cell")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    parser.add_argument("--threads", type=int, default=8, help="server threads (serve --threads)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (serve --workers)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        proc, url, ca = start_server(Path(tmp), args.threads, args.workers)
        try:
            print(f"canary-webhook serve: {args.workers} worker(s) x {args.threads} threads, TLS, keep-alive; "
                  f"{args.clients} clients, {args.seconds:g}s per cell, {os.cpu_count()} CPUs")
            print(f"{'routes':>6} {'endpoint':>9} {'body KiB':>9} {'requests':>9} {'req/s':>8} "
                  f"{'p50 ms':>8} {'p99 ms':>8}")
            for size in SIZES:
                bodies = {"allow": review(routetable(size, (25, 75))), "validate": review(routetable(size, (25, 75))),
                          "mutate": review(routetable(size, (1, 3)))}
                for endpoint in ENDPOINTS:
                    count, elapsed, latencies = drive(f"{url}/{endpoint}", ca, bodies[endpoint], args.clients,
                                                      args.seconds)
                    print(f"{size:>6} {endpoint:>9} {len(bodies[endpoint]) / 1024:>9.1f} {count:>9} "
                          f"{count / elapsed:>8.1f} {percentile(latencies, 50) * 1000:>8.2f} "
                          f"{percentile(latencies, 99) * 1000:>8.2f}", flush=True)
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
