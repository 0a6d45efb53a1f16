"""`shift --step` on a MemoryStore whose gateway-proxy pods answer as Envoy's read-only admin would.

The fake gateway stands in for Envoy here only (the e2e tests run the real one): time passes when the
command sleeps, and each simulated second sends `rate` requests split between the versions by the
routes the store holds, a share of the canary's failing; `/clusters?format=json` and `/config_dump`
are rendered in Envoy's JSON shapes from those counts and routes.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import service_objects

from kubectl_canary.cli.env import Env
from kubectl_canary.core.kinds import ObjectRef
from kubectl_canary.core.routes import RouteState, recognise
from kubectl_canary.store import read_snapshot
from kubectl_canary.store.memory import MemoryStore

HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))
RT = ObjectRef("RouteTable", "echo", "echo-routes")
IPS = {"v1": "10.0.0.1", "v2": "10.0.0.2"}


def pod(name: str, namespace: str, labels: dict[str, str], ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "status": {"phase": "Running", "podIP": ip}}


class FakeGateway:
    def __init__(self, state: RouteState = HEADER, proxies: int = 1, rate: float = 10.0,
                 errors: float = 0.0, lag: bool = False, policy: dict[str, Any] | None = None) -> None:
        objs = service_objects(state, {"v1": "primary", "v2": "canary"})
        for obj in objs:
            if obj["kind"] == "Deployment":
                obj["status"] = {"readyReplicas": 1}
        objs += [pod(f"echo-{v}-x", "echo", {"app": "echo", "version": v}, ip) for v, ip in IPS.items()]
        self.proxies = [f"gateway-proxy-{i}" for i in range(proxies)]
        objs += [pod(p, "gloo-system", {"gloo": "gateway-proxy"}, f"10.1.0.{i}") for i, p in enumerate(self.proxies)]
        if policy is not None:
            objs.append({"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
                         "metadata": {"name": "platform"}, "spec": policy})
        self.store = MemoryStore(objs, default_namespace="echo", live=True)
        self.rate, self.errors, self.lag, self.now = rate, errors, lag, 0.0
        self.sent = {v: 0 for v in IPS}
        self.failed = {v: 0 for v in IPS}
        self.counts = {p: {v: [0, 0] for v in IPS} for p in self.proxies}  # proxy -> version -> [total, error]
        self.interrupt_after: float | None = None
        for p in self.proxies:
            ref = ObjectRef("Pod", "gloo-system", p)
            self.store.proxied[(ref, 8082, "/clusters?format=json")] = lambda p=p: self.clusters(p)
            self.store.proxied[(ref, 8082, "/config_dump")] = self.config_dump

    def weight(self) -> int:
        snap = read_snapshot(self.store, "echo", "echo")
        state = recognise(snap.routetable, "echo", snap.upstream).state
        return state.weight if state.canary else 0

    def sleep(self, seconds: float) -> None:
        if self.interrupt_after is not None and self.now >= self.interrupt_after:
            raise KeyboardInterrupt
        weight = self.weight()
        for _ in range(round(self.rate * seconds)):
            n = sum(self.sent.values())
            version = "v2" if (n * weight) % 100 < weight else "v1"
            proxy = self.proxies[(n // 2) % len(self.proxies)]
            fail = version == "v2" and self.failed["v2"] < self.errors * (self.sent["v2"] + 1)
            self.sent[version] += 1
            self.failed[version] += fail
            self.counts[proxy][version][0] += 1
            self.counts[proxy][version][1] += fail
        self.now += seconds

    def clusters(self, proxy: str) -> str:
        hosts = [{"address": {"socket_address": {"address": IPS[v], "port_value": 8080}},
                  "stats": [{"name": "rq_total", "value": str(t)}, {"name": "rq_error", "value": str(e)},
                            {"name": "rq_success", "value": str(t - e)}]}
                 for v, (t, e) in self.counts[proxy].items()]
        return json.dumps({"cluster_statuses": [{"name": "echo_echo", "host_statuses": hosts}]})

    def config_dump(self) -> str:
        weight = 0 if self.lag else self.weight()
        clusters = [{"name": "echo_echo", "weight": w, "metadata_match": {"filter_metadata": {"envoy.lb": {
            "version": v}}}} for v, w in (("v1", 100 - weight), ("v2", weight)) if w]
        routes = [{"match": {"prefix": "/echo", "headers": [{"name": "stage"}]}, "route": {"cluster": "echo_echo"}},
                  {"match": {"prefix": "/echo"}, "route": {"weighted_clusters": {"clusters": clusters}}}]
        return json.dumps({"configs": [{"dynamic_route_configs": [{"route_config": {
            "virtual_hosts": [{"routes": routes}]}}]}]})

    def env(self) -> Env:
        return Env(store_factory=lambda _o: self.store, sleep=self.sleep, clock=lambda: self.now)

    def annotations(self) -> dict[str, str]:
        return dict(self.store.objects[RT]["metadata"]["annotations"])

    def verdict(self) -> dict[str, Any]:
        return dict(json.loads(self.annotations()["kubectl-canary.io/analysis"]))


STEPS = ("shift", "echo", "--weight", "100", "--step", "25", "--interval", "15s")


def test_a_healthy_canary_is_shifted_step_by_step_to_the_target(run):
    gw = FakeGateway(rate=10)
    result = run(*STEPS, env=gw.env())
    assert result.exit_code == 0, result.output + result.stderr
    assert gw.annotations()["kubectl-canary.io/weight"] == "100"
    steps = [line for line in result.output.splitlines() if line.startswith("step:")]
    assert steps == ["step: weight 0% -> 25%", "step: weight 25% -> 50%", "step: weight 50% -> 75%",
                     "step: weight 75% -> 100%"]
    windows = [line for line in result.output.splitlines() if line.startswith("window at weight")]
    assert len(windows) == 4 and all("healthy: canary v2" in w for w in windows)
    # the first window: 15s at 10 requests a second, a quarter to the canary
    assert "window at weight 25% (15s): healthy: canary v2: 38 requests, 0 failed (0.0%); primary v1: 112" \
        in windows[0]
    assert gw.verdict()["outcome"] == "healthy" and gw.verdict()["weight"] == 100
    status = run("status", "echo", env=gw.env())
    assert "Analysis:    healthy at weight 100%" in status.output


def test_a_failing_canary_is_aborted_at_the_first_step(run):
    gw = FakeGateway(rate=10, errors=0.3)
    result = run(*STEPS, env=gw.env())
    assert result.exit_code == 1
    window = next(line for line in result.output.splitlines() if line.startswith("window"))
    assert window.startswith("window at weight 25% (15s): failed: canary v2: 38 requests, 12 failed (31.6%)")
    assert "above --max-error-rate 1%" in window
    assert "aborted: canary v2 failed at weight 25%" in result.output
    assert gw.annotations()["kubectl-canary.io/phase"] == "stable" and gw.verdict()["outcome"] == "failed"
    assert ObjectRef("Deployment", "echo", "echo-v2") in gw.store.objects  # kept for inspection
    assert gw.failed["v2"] == 12  # what users saw: the first step's share of one window


def test_no_traffic_is_inconclusive_never_promoted_and_pauses_or_aborts(run):
    gw = FakeGateway(rate=0)
    paused = run(*STEPS, "--max-inconclusive", "1", env=gw.env())
    assert paused.exit_code == 2
    assert paused.output.count("inconclusive: canary v2: 0 requests") == 2
    assert "fewer than --min-requests 20" in paused.output and "paused at weight 25%" in paused.output
    assert gw.annotations()["kubectl-canary.io/weight"] == "25" and gw.verdict()["outcome"] == "inconclusive"
    aborted = run(*STEPS, "--max-inconclusive", "0", "--on-inconclusive", "abort", env=gw.env())
    assert aborted.exit_code == 1 and gw.annotations()["kubectl-canary.io/phase"] == "stable"


def test_an_inconclusive_window_is_extended_and_counts_from_its_start(run):
    gw = FakeGateway(rate=1)  # 15s at weight 25: 4 canary requests a window
    result = run(*STEPS, "--min-requests", "7", "--max-inconclusive", "1", env=gw.env())
    lines = [line for line in result.output.splitlines() if line.startswith("window at weight 25%")]
    assert lines[0].startswith("window at weight 25% (15s): inconclusive: canary v2: 4 requests")
    assert lines[1].startswith("window at weight 25% (30s, extended 1x): healthy: canary v2: 8 requests")


def test_counts_are_summed_over_every_gateway_proxy(run):
    gw = FakeGateway(proxies=2, rate=10)
    result = run("shift", "echo", "--weight", "50", "--step", "50", "--interval", "20s", env=gw.env())
    assert result.exit_code == 0
    # 200 requests, split evenly between the proxies, a half to the canary
    assert "canary v2: 100 requests, 0 failed (0.0%); primary v1: 100 requests" in result.output
    assert sum(gw.counts["gateway-proxy-0"]["v2"]) and sum(gw.counts["gateway-proxy-1"]["v2"])


def test_a_policy_caps_the_step_and_sets_the_gates(run):
    gw = FakeGateway(rate=10, policy={"maxWeightStep": 20, "analysis": {"minRequests": 5, "interval": "10s"}})
    result = run("shift", "echo", "--weight", "40", "--step", "50", env=gw.env())
    assert result.exit_code == 0, result.stderr
    assert "--step 50 is more than the CanaryPolicy's maxWeightStep 20: stepping by 20" in result.stderr
    assert "step: weight 0% -> 20%" in result.output and "window at weight 20% (10s)" in result.output


def test_interrupted_keeps_the_last_step_and_a_rerun_resumes(run):
    gw = FakeGateway(rate=10)
    gw.interrupt_after = 10.0  # in the second window (the first ends at 15s)
    stopped = run(*STEPS, env=gw.env())
    assert stopped.exit_code == 130
    assert "interrupted: the routes stay at weight 50% (the last step applied)" in stopped.stderr
    assert gw.annotations()["kubectl-canary.io/weight"] == "50"
    gw.interrupt_after = None
    resumed = run(*STEPS, env=gw.env())
    assert resumed.exit_code == 0
    assert resumed.output.splitlines()[0].startswith("window at weight 50% (15s): healthy")
    assert "step: weight 50% -> 75%" in resumed.output and gw.annotations()["kubectl-canary.io/weight"] == "100"


def test_a_step_the_gateway_does_not_take_stops_with_the_weight_said(run):
    gw = FakeGateway(rate=10, lag=True)
    result = run(*STEPS, "--route-timeout", "5s", env=gw.env())
    assert result.exit_code == 1
    assert "the gateway does not route by weight 25 after 5s: gateway-proxy-0 (canary share 0)" \
        in result.stderr
    assert "the routes stay at weight 25%" in result.stderr


def test_finish_makes_the_canary_the_primary(run):
    gw = FakeGateway(rate=10)
    result = run(*STEPS[:5], "50", "--interval", "15s", "--finish", env=gw.env())
    assert result.exit_code == 0, result.stderr
    assert gw.annotations()["kubectl-canary.io/primary"] == "v2" and "is now the primary" in result.output


def test_usage_errors(run):
    gw = FakeGateway()
    for args, message in [
        (("--interval", "1m"), "--interval judges a progressive shift: add --step POINTS"),
        (("--step", "10", "--max-latency", "p99=1s"), "a latency gate (--max-latency, --latency-ratio) needs"),
        (("--step", "10", "--load", "5"), "--load sends requests through the gateway: add --gateway-url"),
        (("--step", "10", "--interval", "soon"), "--interval 'soon'"),
        (("--step", "10", "--max-latency", "p95=1s"), "p95=1s"),
        (("--step", "10", "--dry-run", "client"), "cannot be a dry run"),
    ]:
        result = run("shift", "echo", "--weight", "50", *args, env=gw.env())
        assert result.exit_code == 2, (args, result.output, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert gw.annotations()["kubectl-canary.io/weight"] == "0"
