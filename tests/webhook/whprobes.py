"""The shipped probes as the kubelet reads them from deploy/base's Deployment, and a process that runs them.

The kubelet resolves a probe's port (a number, or the name of a container port), connects to the pod's
address on it with a new connection each time, and counts a probe failed when it gets no 2xx/3xx within
timeoutSeconds. `shipped_probes` reads the probes that way from the manifest, and `shipped_listeners` the
`serve` flags that say where the container listens, so a test can start the server as the pod runs it (on
an address of its own, `pod_address`) and probe it where the kubelet would: the manifests and the server
cannot drift apart. `Prober` probes from a process of its own, as the kubelet does (the test's own load
must not delay it).
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEPLOYMENT = Path(__file__).resolve().parents[2] / "deploy" / "base" / "deployment.yaml"
LISTENER_FLAGS = ("--port", "--probe-port")


@dataclass(frozen=True)
class Probe:
    kind: str  # readinessProbe, livenessProbe
    scheme: str
    port: int
    path: str
    timeout: float  # timeoutSeconds
    period: float  # periodSeconds

    def url(self, host: str) -> str:
        return f"{self.scheme.lower()}://{host}:{self.port}{self.path}"


def shipped_container() -> dict[str, Any]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text(encoding="utf-8"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def shipped_probes() -> list[Probe]:
    """The readiness and liveness probes of deploy/base's Deployment (Kubernetes' defaults where unset)."""
    container = shipped_container()
    found = []
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]
        get = probe["httpGet"]
        found.append(Probe(kind, get.get("scheme", "HTTP"), _port(container, get["port"]), get["path"],
                           float(probe.get("timeoutSeconds", 1)), float(probe.get("periodSeconds", 10))))
    return found


def shipped_listeners() -> list[str]:
    """The `serve` flags of deploy/base's container that say where it listens (`--port 8443 ...`)."""
    args = shipped_container()["args"]
    return [word for i, flag in enumerate(args[:-1]) if flag in LISTENER_FLAGS for word in (flag, args[i + 1])]


def pod_address() -> str:
    """A loopback address of its own (any of 127/8 is), where the manifest's ports are free: the pod's IP."""
    ports = [int(port) for port in shipped_listeners()[1::2]]
    for _ in range(20):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        try:
            for port in ports:
                with socket.create_server((address, port)):
                    pass
        except OSError:
            continue
        return address
    raise RuntimeError(f"no loopback address with ports {ports} free")


PROBE_SCRIPT = """
import json, sys, time, urllib.error, urllib.request
url, period, seconds, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
end, found = time.monotonic() + seconds, []
while time.monotonic() < end:
    started = time.monotonic()
    try:
        with opener.open(url, timeout=timeout) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError:
        status = 0
    found.append((time.monotonic() - started, status))
    time.sleep(max(0.0, started + period - time.monotonic()))
print(json.dumps(found))
"""


class Prober:
    """GET `url` on a new connection every `period` seconds for `seconds`, from a process of its own, each
    given up after `timeout`; `results()` is (seconds, status) per probe, status 0 for no answer."""

    def __init__(self, url: str, seconds: float, period: float = 1.0, timeout: float = 5.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SCRIPT, url, str(period), str(seconds), str(timeout)],
            stdout=subprocess.PIPE)

    def results(self) -> list[tuple[float, int]]:
        out, _ = self.proc.communicate(timeout=120)
        return [(float(t), int(s)) for t, s in json.loads(out)]
