"""A service under test on the real data path: `Rollout` runs `kubectl canary` for it through the real
kubectl and waits on what the data path says (`status` healthy, requests landing on the allowed
versions); `Site` is a test's own VirtualService (its api group and the Host header that reaches it),
so tests never see each other's routes, as clients of a shared gateway pick a virtual host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .controlplane import ControlPlane
from .gateway import GLOO_NAMESPACE, Gateway
from .traffic import HEADER, Step, sample, wait_for, within


def virtual_service(group: str) -> dict[str, object]:
    """The seed's VirtualService for api group `group`, on the domain `<group>.e2e`."""
    return {"apiVersion": "gateway.solo.io/v1", "kind": "VirtualService",
            "metadata": {"name": f"vs-{group}"[:63], "namespace": GLOO_NAMESPACE},
            "spec": {"virtualHost": {"domains": [f"{group}.e2e"], "routes": [{
                "matchers": [{"prefix": "/"}],
                "delegateAction": {"selector": {"labels": {"apiGroup": group}, "namespaces": ["*"]}}}]}}}


@dataclass
class Site:
    """A test's VirtualService: its api group, and the Host header that reaches it."""

    group: str
    host: str


class Rollout:
    """Runs the plugin through the real kubectl for one service, and waits on the data path."""

    def __init__(self, run: Callable[..., Any], cp: ControlPlane, gw: Gateway, site: Site, ns: str,
                 service: str) -> None:
        self.run, self.cp, self.gw, self.site, self.ns, self.service = run, cp, gw, site, ns, service
        self.path = f"/{service}"

    def version(self, v: str) -> str:
        return f"version:{self.service}-{v}"

    def canary(self, command: str, *args: str) -> None:
        self.run(command, self.service, "-n", self.ns, *args)

    def healthy(self, timeout: float = 120) -> dict[str, object]:
        """Until `kubectl canary status` exits 0 (no data-path problem); Gloo Accepted RouteTable and Upstream."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.run("status", self.service, "-n", self.ns, "-o", "json", check=False)
            status = json.loads(shown.stdout) if shown.stdout.strip() else {}
            states = {g["kind"]: g["state"] for g in status.get("gloo") or []}
            if shown.returncode == 0 and states.get("RouteTable") == states.get("Upstream") == "Accepted":
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"status of {self.service} not healthy after {timeout}s:\n{shown.stdout}\n"
                                     f"{shown.stderr}")
            time.sleep(0.5)

    def wait_for(self, plain: set[str], header: set[str]) -> None:
        wait_for(self.gw.url, self.site.host, self.path, {self.version(v) for v in plain})
        wait_for(self.gw.url, self.site.host, self.path, {self.version(v) for v in header}, HEADER)

    def only(self, version: str, headers: dict[str, str] | None = None, n: int = 40) -> None:
        got = sample(self.gw.url, self.site.host, self.path, n, headers)
        assert got == {self.version(version): n}, f"{self.path} {headers or ''}: {dict(got)}"

    def splits(self, primary: str, canary: str, share: float, n: int = 400) -> None:
        """N requests land on both versions, the canary's part within 3.3 sigma of `share` (`within`)."""
        got = sample(self.gw.url, self.site.host, self.path, n)
        assert set(got) == {self.version(primary), self.version(canary)}, got
        seen = got[self.version(canary)]
        assert within(seen / n, share, n), f"{canary} share {seen}/{n} is off {share:.0%}"

    def pods(self, version: str) -> list[str]:
        out = self.cp.kubectl("get", "pods", "-n", self.ns, "-l", f"app={self.service},version={version}",
                              "-o", "name").stdout
        return out.split()

    def gone(self, version: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.pods(version):
            assert time.monotonic() < deadline, f"pods of {self.service}-{version} still there: {self.pods(version)}"
            time.sleep(0.5)


def through(svc: Rollout, steps: list[Step], name: str, command: list[str], plain: set[str], header: set[str],
            gone: str | None = None) -> None:
    """Run one command of a rollout for `svc`, wait until the data path takes it, and record it as a `Step`
    (when it began and settled, and the versions it allows) for `judge`."""
    began = time.monotonic()
    svc.canary(*command)
    svc.healthy()
    svc.wait_for(plain, header)
    if gone:
        svc.gone(gone)
    steps.append(Step(name, began, time.monotonic(), frozenset(svc.version(v) for v in plain),
                      frozenset(svc.version(v) for v in header)))
