"""Soak benchmark: the webhook worker's memory (RSS) after N fuzzed requests next to N ordinary ones.

Starts a fresh `canary-webhook serve` (as benchmarks/webhook_load.py does) for each phase, sends N
requests from a few keep-alive clients, and reads the gunicorn worker's RSS from /proc before, and
3 s after the last request (what the worker keeps once the load is over). Ordinary: /mutate and
/validate of small RouteTables that pass. Fuzzed: the same reviews with one value somewhere replaced
by something hostile (a megabyte string, nesting hundreds deep, a 4,300-digit number, 3,000
destinations, wrong types), or the body cut short or garbled; every one must get an answer (200, 400
or 413), and the counts are printed. The goal: the fuzzed RSS within 20% of the ordinary one. Both
phases run side by side in one invocation, since the machine is noisy.

    .venv/bin/python benchmarks/webhook_soak.py [--requests 100000] [--clients 4] [--seed 12]

Each phase starts from a fresh server, so runs with different --requests show whether RSS keeps
growing with N (a leak) or levels off (the allocator keeping its high-water mark).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).parent))
from webhook_load import routetable, session, start_server, stop_server

HEADERS = {"Content-Type": "application/json"}
IDLE = 3.0  # seconds after the last request, before RSS is read


def review(obj: dict[str, Any], uid: int) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"soak-{uid}", "kind": {"group": "gateway.solo.io", "version": "v1", "kind": "RouteTable"},
        "namespace": "echo", "name": "echo-routes", "operation": "CREATE", "object": obj}}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def hostile(rng: random.Random) -> Any:
    return rng.choice([
        lambda: "x" * rng.randint(1, 1 << 20),
        lambda: nested(rng.randint(50, 900)),
        lambda: int("9" * 4300),
        lambda: [{"destination": {"upstream": {"name": "echo", "namespace": "echo"},
                                  "subset": {"values": {"version": f"x{i}"}}}, "weight": 0} for i in range(3000)],
        lambda: None, lambda: [], lambda: {}, lambda: -1, lambda: True, lambda: "",
    ])()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def fuzzed(rng: random.Random, base: dict[str, Any]) -> bytes:
    """`base` with one value replaced by a hostile one, or its encoding cut short or garbled."""
    doc = copy.deepcopy(base)
    target = rng.choice(paths(doc)[1:])
    parent = doc
    for key in target[:-1]:
        parent = parent[key]
    parent[target[-1]] = hostile(rng)
    body = json.dumps(doc).encode()
    roll = rng.random()
    if roll < 0.05:
        return body[: rng.randint(0, len(body))]
    if roll < 0.10:
        cut = rng.randint(0, len(body))
        return body[:cut] + bytes(rng.randint(0, 255) for _ in range(8)) + body[cut:]
    return body


def worker_rss(master: int) -> int:
    """The RSS in KiB of the gunicorn worker (the master's child)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS")


def phase(bodies: list[bytes], count: int, clients: int, threads: int) -> tuple[int, int, Counter[int], float]:
    """(RSS before, RSS after, statuses, seconds) for `count` requests cycling through `bodies`."""
    with tempfile.TemporaryDirectory(prefix="webhook-soak-") as tmp:
        proc, url, ca = start_server(Path(tmp), threads, 1)
        try:
            before = worker_rss(proc.pid)
            statuses: Counter[int] = Counter()
            lock, started = threading.Lock(), time.monotonic()

            def client(index: int) -> None:
                with session(ca) as http:
                    for i in range(index, count, clients):
                        path = "/mutate" if i % 2 else "/validate"
                        try:
                            status = http.post(url + path, data=bodies[i % len(bodies)], headers=HEADERS,
                                               timeout=30).status_code
                        except requests.RequestException:
                            status = 0
                        with lock:
                            statuses[status] += 1

            workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            seconds = time.monotonic() - started
            time.sleep(IDLE)  # "and stayed there": what the worker holds once the load is over
            return before, worker_rss(proc.pid), statuses, seconds
        finally:
            stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests per phase")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="server threads (serve --threads)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--distinct", type=int, default=500, help="distinct fuzzed bodies, cycled")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    bases = [review(routetable(rng.randint(1, 20), (25, 75)), i) for i in range(20)]
    ordinary = [json.dumps(b).encode() for b in bases]
    hostile_bodies = [fuzzed(rng, rng.choice(bases)) for _ in range(args.distinct)]
    print(f"{args.requests} requests per phase, {args.clients} clients, {args.threads} server threads; "
          f"fuzzed bodies {sum(map(len, hostile_bodies)) // len(hostile_bodies) // 1024} KiB on average")
    results = {}
    for name, bodies in (("ordinary", ordinary), ("fuzzed", hostile_bodies)):
        before, after, statuses, seconds = phase(bodies, args.requests, args.clients, args.threads)
        results[name] = after
        print(f"{name:>9}: RSS {before / 1024:6.1f} MiB -> {after / 1024:6.1f} MiB after {args.requests} requests "
              f"in {seconds:.0f}s; answers {dict(sorted(statuses.items()))}", flush=True)
    ratio = results["fuzzed"] / results["ordinary"]
    print(f"fuzzed/ordinary RSS: {ratio:.2f} (goal: at most 1.20)")


if __name__ == "__main__":
    main()
