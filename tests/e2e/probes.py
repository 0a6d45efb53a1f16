"""Container probes as the kubelet runs them: `httpGet` (scheme, host, path, port by number or
name, httpHeaders; 200-399 passes), `tcpSocket` (a connection is accepted) and `exec` (exit code 0),
each with initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold
(Kubernetes' defaults 0, 10, 1, 1, 3). A Prober thread keeps one probe's result: readiness starts
failed, liveness and startup start unknown (liveness counts as passing until it fails
failureThreshold times in a row); the agent restarts a container whose liveness fails.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

USER_AGENT = "kube-probe/1.37"

# argv, timeout -> the finished command
Exec = Callable[[list[str], float], subprocess.CompletedProcess[bytes]]


def port_number(port: int | str, container: dict[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} is not a named port of container {container['name']!r}")


def check(probe: dict[str, Any], container: dict[str, Any], pod_ip: str, run: Exec) -> tuple[bool, str]:
    """Run one probe once: (passed, what happened)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            return _http(probe["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in probe:
            sock = probe["tcpSocket"]
            with socket.create_connection((sock.get("host") or pod_ip, port_number(sock["port"], container)),
                                          timeout=timeout):
                return True, "connected"
        if "exec" in probe:
            done = run(list(probe["exec"]["command"]), timeout)
            out = done.stdout.decode(errors="replace").strip()
            return done.returncode == 0, f"exit code {done.returncode}: {out[-200:]}"
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout:g}s"
    except (OSError, ValueError, http.client.HTTPException) as err:
        return False, f"{type(err).__name__}: {err}"
    return False, f"probe handler {sorted(probe)} is not supported on this test node (httpGet, tcpSocket, exec are)"


def _http(get: dict[str, Any], container: dict[str, Any], pod_ip: str, timeout: float) -> tuple[bool, str]:
    host, port = get.get("host") or pod_ip, port_number(get["port"], container)
    conn: http.client.HTTPConnection
    if get.get("scheme", "HTTP").upper() == "HTTPS":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in get.get("httpHeaders") or []})
    path = get.get("path") or "/"
    url = f"{get.get('scheme', 'HTTP').lower()}://{host}:{port}{path}"
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read(10240)
    except OSError as err:  # the kubelet's wording: Get "URL": dial tcp ...: connection refused
        return False, f'Get "{url}": {err.strerror or err}'
    finally:
        conn.close()
    if 200 <= resp.status < 400:
        return True, f"HTTP probe succeeded with statuscode: {resp.status}"
    return False, f"HTTP probe failed with statuscode: {resp.status}"


class Prober(threading.Thread):
    """Runs one probe of one container instance on its schedule and keeps its result; calls
    on_change when the result changes and after every failed probe (the kubelet's Unhealthy event)."""

    def __init__(self, kind: str, probe: dict[str, Any], container: dict[str, Any], pod_ip: str, run: Exec,
                 on_change: Callable[[Prober], None]) -> None:
        super().__init__(daemon=True, name=f"{kind}-{container['name']}")
        self.kind, self.probe, self.container, self.pod_ip, self.run_exec = kind, probe, container, pod_ip, run
        self.on_change = on_change
        self.passed: bool | None = False if kind == "readiness" else None
        self.message = ""
        self.last_ok = False
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        p = self.probe
        period = float(p.get("periodSeconds", 10))
        need = {True: int(p.get("successThreshold", 1)), False: int(p.get("failureThreshold", 3))}
        streak: tuple[bool, int] = (True, 0)
        if self._stop_event.wait(float(p.get("initialDelaySeconds", 0))):
            return
        while True:
            started = time.monotonic()
            ok, self.message = check(p, self.container, self.pod_ip, self.run_exec)
            self.last_ok = ok
            if self._stop_event.is_set():
                return
            streak = (ok, streak[1] + 1 if streak[0] == ok else 1)
            changed = streak[1] >= need[ok] and self.passed is not ok
            if changed:
                self.passed = ok
            if changed or not ok:
                self.on_change(self)
            if self.kind == "startup" and ok and self.passed:
                return  # a startup probe stops once it has passed
            if self._stop_event.wait(max(0.0, period - (time.monotonic() - started))):
                return
