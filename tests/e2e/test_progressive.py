"""`shift --step` on the real data path: podinfo behind the gateway-proxy pods (two Envoy replicas run
by the node agent, configured by gloo), the plugin reading their per-host counters through the API
server's pods/proxy, users' requests sent through both replicas while it shifts.

A bad canary is podinfo itself: `--random-error` (env PODINFO_RANDOM_ERROR) answers a third of the
requests with 500, 400 or 409 (so a ninth are 5xx, which the gateway counts as errors), and
`--random-delay` (PODINFO_RANDOM_DELAY*) sleeps a few hundred milliseconds before answering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubectl_canary.core.hoststats import cluster_name, per_version
from kubectl_canary.core.hoststats import window as counted
from kubectl_canary.store import read_snapshot
from kubectl_canary.store.cluster import ClusterStore
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.proxies import Gateway as Proxies
from kubectl_canary.store.proxies import read_counts, service_versions

from . import tools
from .controlplane import ControlPlane
from .rollout import Rollout, Site
from .traffic import Answer, Client, Users

IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.2"
SERVICE = "podinfo"


def served_by(answer: Answer) -> str:
    """The version whose pod answered a 200 (podinfo's JSON names its pod)."""
    return "v2" if json.loads(answer.body)["hostname"].startswith(f"{SERVICE}-v2-") else "v1"


@pytest.fixture
def plugin(control_plane: ControlPlane) -> Callable[..., subprocess.Popen[str]]:
    """plugin(*args) starts `kubectl canary ARGS` through the real kubectl (a process the test can signal)."""
    scripts = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
               KUBECONFIG=str(control_plane.kubeconfig), KUBECACHEDIR=str(control_plane.dir / "kube-cache"))

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(tools.tool("kubectl")), "canary", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    return start


def finished(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    print(out, err)  # the verdicts with their numbers, in the test's log
    return proc.returncode, out, err


@pytest.fixture
def podinfo(rollout: Callable[[str, str], Rollout], namespace: str, site: Site) -> Callable[..., Rollout]:
    """podinfo(*canary_env): podinfo v1 as the primary and v2 (with those env settings) as the canary,
    both serving through the gateway."""

    def make(*canary_env: str) -> Rollout:
        r = rollout(namespace, SERVICE)
        r.canary("init", "--version", "v1", "--image", IMAGE, "--port", "9898", "--api-group", site.group,
                 "--prefix", "/")
        r.healthy()
        r.canary("start", "--version", "v2", *(x for e in canary_env for x in ("--env", e)))
        r.healthy()
        return r

    return make


def routetable(control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    out = control_plane.kubectl("get", "routetable", f"{SERVICE}-routes", "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def weight_of(control_plane: ControlPlane, namespace: str) -> str:
    annotations = routetable(control_plane, namespace)["metadata"]["annotations"]
    return str(annotations.get("kubectl-canary.io/weight", annotations["kubectl-canary.io/phase"]))


def shift_args(namespace: str, *args: str) -> list[str]:
    return ["shift", SERVICE, "-n", namespace, *args]


def test_a_healthy_canary_reaches_100_step_by_step_with_no_failed_request(podinfo, plugin, gateway, site, namespace,
                                                                          control_plane, kubectl_canary) -> None:
    podinfo()
    with Users(gateway.urls, site.host, label=served_by) as users:
        code, out, _ = finished(plugin(*shift_args(namespace, "--weight", "100", "--step", "25", "--interval",
                                                   "15s")))
    assert code == 0, out
    windows = [line for line in out.splitlines() if line.startswith("window at weight")]
    assert [w.split(":")[0].split("(")[0].strip() for w in windows] == [
        f"window at weight {w}%" for w in (25, 50, 75, 100)]
    assert all(": healthy: canary v2: " in w and "primary v1: " in w for w in windows)
    assert users.failed == 0, users.seen
    assert weight_of(control_plane, namespace) == "100"
    status = kubectl_canary("status", SERVICE, "-n", namespace, check=False)
    assert "Analysis:    healthy at weight 100%" in status.stdout


def test_a_canary_answering_errors_is_aborted_at_the_first_step(podinfo, plugin, gateway, site, namespace,
                                                                control_plane) -> None:
    podinfo("PODINFO_RANDOM_ERROR=true")
    with Users(gateway.urls, site.host, label=served_by) as users:
        started = time.monotonic()
        code, out, err = finished(plugin(*shift_args(namespace, "--weight", "100", "--step", "25", "--interval",
                                                     "15s")))
        took = time.monotonic() - started
        time.sleep(3)  # users keep sending after the abort: none of it may fail
        after = users.failed
        time.sleep(5)
        assert users.failed == after, "requests still failing after the abort"
    assert code == 1, out + err
    assert "step: weight 0% -> 25%" in out and "step: weight 25% -> 50%" not in out
    assert "window at weight 25%" in out and "failed: canary v2" in out and "above --max-error-rate" in out
    assert "aborted: canary v2 failed at weight 25%" in out
    assert routetable(control_plane, namespace)["metadata"]["annotations"]["kubectl-canary.io/phase"] == "stable"
    assert control_plane.kubectl("get", "deployment", f"{SERVICE}-v2", "-n", namespace, check=False).returncode == 0
    sent = sum(users.seen.values())
    print(f"users saw {users.failed} failed requests of {sent} ({dict(users.seen)}) in {took:.0f}s")
    # Bounded by the first step's share: at most a quarter of what was sent while the command ran failed
    # (a third of the canary's answers are errors; the quarter leaves room for chance).
    assert 0 < users.failed <= sent / 4


def test_a_slow_canary_is_aborted_by_the_latency_gate(podinfo, plugin, gateway, site, namespace,
                                                      control_plane) -> None:
    podinfo("PODINFO_RANDOM_DELAY=true", "PODINFO_RANDOM_DELAY_UNIT=ms", "PODINFO_RANDOM_DELAY_MIN=300",
            "PODINFO_RANDOM_DELAY_MAX=400")
    code, out, err = finished(plugin(*shift_args(
        namespace, "--weight", "100", "--step", "50", "--interval", "10s", "--load", "20", "--gateway-url",
        gateway.url, "--load-host", site.host, "--max-latency", "p99=250ms")))
    assert code == 1, out + err
    assert "is above --max-latency p99=250ms" in out and "aborted: canary v2 failed at weight 50%" in out
    assert routetable(control_plane, namespace)["metadata"]["annotations"]["kubectl-canary.io/phase"] == "stable"


def test_no_traffic_is_never_promoted_and_load_lets_it_be_judged(podinfo, plugin, gateway, site, namespace,
                                                                 control_plane) -> None:
    podinfo()
    code, out, err = finished(plugin(*shift_args(namespace, "--weight", "100", "--step", "50", "--interval", "5s",
                                                 "--max-inconclusive", "1")))
    assert code == 2, out + err
    assert out.count("inconclusive: canary v2: 0 requests") == 2 and "paused at weight 50%" in out
    assert weight_of(control_plane, namespace) == "50"
    code, out, err = finished(plugin(*shift_args(namespace, "--weight", "100", "--step", "50", "--interval", "10s",
                                                 "--load", "20", "--gateway-url", gateway.url, "--load-host",
                                                 site.host)))
    assert code == 0, out + err
    assert out.startswith("window at weight 50% (") and "step: weight 50% -> 100%" in out
    assert "load in all:" in err and weight_of(control_plane, namespace) == "100"


def test_sigterm_keeps_the_last_step_and_a_rerun_resumes(podinfo, plugin, gateway, site, namespace,
                                                         control_plane) -> None:
    podinfo()
    with Users(gateway.urls, site.host, label=served_by) as users:
        proc = plugin(*shift_args(namespace, "--weight", "100", "--step", "25", "--interval", "15s"))
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("step: weight 25% -> 50%"):
                time.sleep(3)  # in the window at 50
                proc.send_signal(signal.SIGTERM)
                break
        code, out, err = finished(proc)
        assert code == 128 + signal.SIGTERM, "".join(lines) + out + err
        assert "interrupted: the routes stay at weight 50% (the last step applied)" in err
        assert weight_of(control_plane, namespace) == "50"
        code, out, err = finished(plugin(*shift_args(namespace, "--weight", "100", "--step", "25", "--interval",
                                                     "15s")))
        assert code == 0, out + err
        assert out.startswith("window at weight 50%") and "step: weight 50% -> 75%" in out
    assert users.failed == 0 and weight_of(control_plane, namespace) == "100"


@pytest.fixture
def store(control_plane: ControlPlane) -> Iterator[ClusterStore]:
    yield ClusterStore(Connection(kubeconfig=str(control_plane.kubeconfig)))


def test_the_gateways_counts_per_version_are_what_the_clients_saw(podinfo, gateway, site, namespace, store) -> None:
    # The measurement itself: the plugin's reading (both replicas through pods/proxy, hosts mapped to
    # versions by their pods) against clients that know which version answered each request. Nothing
    # else sends to this test's service, and no retry is configured: the bound is exact.
    r = podinfo()
    r.canary("shift", "--weight", "50")
    r.healthy()
    snap = read_snapshot(store, namespace, SERVICE)
    cluster = cluster_name(snap.upstream.name, snap.upstream.namespace)
    time.sleep(3)  # let both proxies take the weights (the plugin waits on config_dump; this test need not)
    before = read_counts(store, Proxies(), cluster)
    seen: Counter[str] = Counter()
    proxies_used: Counter[str] = Counter()
    clients = [Client(url, site.host) for url in gateway.urls]
    for i in range(200):
        answer = clients[i % 2].get("/")
        assert answer.status == 200, answer
        seen[served_by(answer)] += 1
        proxies_used[gateway.urls[i % 2]] += 1
    after = read_counts(store, Proxies(), cluster)
    window = counted(before, after)
    per = per_version(window, service_versions(store, snap))
    print(f"clients: {dict(seen)}; gateway: { {v: (s.requests, s.failed) for v, s in per.items()} }")
    assert {v: s.requests for v, s in per.items()} == dict(seen)
    assert all(s.failed == 0 for s in per.values())
    by_proxy: Counter[str] = Counter()
    for (proxy, _ip), stats in window.items():
        by_proxy[proxy] += stats.requests
    assert sorted(by_proxy.values()) == [100, 100], by_proxy  # summed from both replicas
    assert set(by_proxy) == set(gateway.pods)
