"""CanaryPolicy end to end: the real control plane, the real `canary-webhook serve` process registered
through deploy/base's webhook configurations (tests/e2e/webhook.py), the CanaryPolicy CRD of deploy/,
and the plugin through the built kubectl.

Each field is shown three ways, by editing one policy while the same webhook process keeps running
(so every edit is also a policy change taking effect without a restart): Enforce refuses the change
with the webhook's message naming the policy, Warn admits it and kubectl prints the warning, Audit
admits it silently and the webhook records it, as a JSON log line with `"decision": "audit"` and the
violation, and in `canary_webhook_policy_violations_total` on /metrics. `kubectl canary finish` from
20% is refused by `maxWeightStep` until the traffic is shifted. `kubectl canary status` names the
governing policies.

The webhook reads policies from a watch cache, so a test waits for its policy to arrive there before
acting: `Policies.sync` creates a sentinel policy after the test's own and waits until the webhook
refuses a probe in the sentinel namespace by the sentinel's name (one watch delivers every policy
event in order, so the test's policy has arrived too). Every policy selects only namespaces this
module creates, and is deleted afterwards: the control plane and the webhook process are shared.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubectl_canary.core import objects
from kubectl_canary.core.objects import Workload

from .controlplane import ControlPlane
from .webhook import WebhookProcess

CRD = Path(__file__).resolve().parents[2] / "deploy" / "base" / "crd-canarypolicy.yaml"
VALIDATE = "routetables.validate.kubectl-canary.io"
DENIED = f'admission webhook "{VALIDATE}" denied the request: '
TOKEN = secrets.token_hex(3)
MODULE_LABEL = "e2e-policy-module"
NAME_LABEL = "kubernetes.io/metadata.name"

Obj = dict[str, Any]
Run = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.usefixtures("webhook")


# ---- policies, namespaces and what the webhook recorded -------------------------------------------


def policy_object(name: str, spec: Obj) -> Obj:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
            "metadata": {"name": name, "labels": {MODULE_LABEL: TOKEN}}, "spec": spec}


def only(*namespaces: str) -> Obj:
    """A namespaceSelector for exactly these namespaces (by the name label the API server sets)."""
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": "In", "values": list(namespaces)}]}


class Policies:
    """Applies and deletes CanaryPolicies and waits until the webhook's cache has them (`sync`)."""

    def __init__(self, control_plane: ControlPlane, sentinel_namespace: str) -> None:
        self.cp = control_plane
        self.sentinel_namespace = sentinel_namespace
        self.count = 0

    def apply(self, name: str, spec: Obj) -> None:
        self.cp.kubectl("apply", "-f", "-", input=json.dumps(policy_object(name, spec)))
        self.sync()

    def delete(self, name: str) -> None:
        self.cp.kubectl("delete", "canarypolicy", name, "--ignore-not-found")
        self.sync()

    def sync(self, timeout: float = 60.0) -> None:
        self.count += 1
        sentinel = f"e2e-sentinel-{TOKEN}-{self.count}"
        self.cp.kubectl("apply", "-f", "-", input=json.dumps(policy_object(sentinel, {
            "namespaceSelector": only(self.sentinel_namespace), "prefixes": [f"/{sentinel}"]})))
        probe = json.dumps({
            "apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "probe", "namespace": self.sentinel_namespace},
            "spec": {"routes": [{"matchers": [{"prefix": "/probe"}], "directResponseAction": {"status": 200}}]},
        })
        deadline = time.monotonic() + timeout
        while True:
            answer = self.cp.kubectl("create", "--dry-run=server", "-f", "-", input=probe, check=False)
            if f"policy {sentinel}:" in answer.stderr:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the webhook did not see CanaryPolicy {sentinel} in {timeout}s: {answer.stderr}")
            time.sleep(0.1)
        self.cp.kubectl("delete", "canarypolicy", sentinel, "--wait=false")


@pytest.fixture(scope="module")
def policies(control_plane: ControlPlane, webhook: WebhookProcess) -> Iterator[Policies]:
    """The CanaryPolicy CRD installed (if it was not), a sentinel namespace, and every policy of this module
    deleted at the end. The first sync also waits for the webhook's policy cache to list the CRD (while
    it is absent, the cache retries every few seconds)."""
    control_plane.install_crds([CRD])
    sentinel = f"pol-sentinel-{TOKEN}"
    control_plane.kubectl("create", "namespace", sentinel)
    found = Policies(control_plane, sentinel)
    found.sync()
    yield found
    control_plane.kubectl("delete", "canarypolicies", "-l", f"{MODULE_LABEL}={TOKEN}", "--ignore-not-found",
                          check=False)
    control_plane.kubectl("delete", "namespace", sentinel, "--wait=false", check=False)


@pytest.fixture
def make_namespace(control_plane: ControlPlane) -> Iterator[Callable[..., str]]:
    """make_namespace(purpose, **labels): a new namespace with these labels from its creation (so the
    webhook never sees it without them); short names keep the webhook's messages under kubectl's limits."""
    made: list[str] = []

    def make(purpose: str, **labels: str) -> str:
        name = f"pol-{purpose}-{secrets.token_hex(3)}"
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        control_plane.kubectl("create", "-f", "-", input=json.dumps(namespace))
        made.append(name)
        return name

    yield make
    for name in made:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def refused(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode != 0, f"expected a refusal, got exit 0:\n{proc.stdout}{proc.stderr}"
    assert DENIED in proc.stderr and message in proc.stderr, proc.stderr


def warned(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert f"Warning: {message}" in proc.stderr, proc.stderr


def silent(proc: subprocess.CompletedProcess[str]) -> None:
    """Admitted, and the user sees nothing of the policy (Audit)."""
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert "policy" not in proc.stderr, proc.stderr


def log_lines(webhook: WebhookProcess) -> list[Obj]:
    found = []
    for line in webhook.log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def violations_total(webhook: WebhookProcess, policy: str, field: str, enforcement: str) -> float:
    """`canary_webhook_policy_violations_total{policy, field, enforcement}` on the webhook's /metrics."""
    with urllib.request.urlopen(f"{webhook.probe_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = {"policy": policy, "field": field, "enforcement": enforcement}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "canary_webhook_policy_violations_total" and sample.labels == wanted:
                return float(sample.value)
    return 0.0


def audited(webhook: WebhookProcess, policy: str, field: str, message: str, namespace: str) -> None:
    """The webhook logged an audit decision naming the policy and the violation, and counted it."""
    lines = [entry for entry in log_lines(webhook)
             if entry.get("decision") == "audit" and entry.get("namespace") == namespace
             and any(policy in v["policies"] for v in entry.get("violations", []))]
    assert lines, f"no audit line for {policy} in namespace {namespace}:\n{webhook.log_tail()}"
    (violation,) = [v for v in lines[-1]["violations"] if policy in v["policies"]]
    assert (violation["field"], violation["enforcement"]) == (field, "Audit")
    assert message in violation["message"], violation
    assert lines[-1]["endpoint"] == "validate" and lines[-1]["kind"] == "RouteTable.gateway.solo.io"
    assert violations_total(webhook, policy, field, "Audit") >= 1


def routetable(control_plane: ControlPlane, namespace: str, name: str = "echo-routes") -> Obj:
    found: Obj = json.loads(control_plane.kubectl("get", "routetable", name, "-n", namespace, "-o", "json").stdout)
    return found


def upstream_destination(namespace: str, version: str) -> Obj:
    return {"upstream": {"name": "echo", "namespace": namespace}, "subset": {"values": {"version": version}}}


def with_routes(rt: Obj, routes: list[Obj]) -> str:
    """`rt` (as read, with its resourceVersion) with other routes, for `kubectl replace`."""
    changed = json.loads(json.dumps(rt))
    changed["spec"]["routes"] = routes
    return json.dumps(changed)


def replace_routes(control_plane: ControlPlane, ns: str, routes: list[Obj], *flags: str) -> Any:
    """`kubectl replace` of echo-routes with `routes`, read afresh: Gloo writes the RouteTable's status at
    any moment (a full UPDATE), so a replace of an older read can meet a Conflict; it is read and tried again."""
    for _ in range(10):
        proc = control_plane.kubectl("replace", *flags, "-f", "-", input=with_routes(routetable(control_plane, ns),
                                                                                  routes), check=False)
        if "the object has been modified" not in proc.stderr:
            return proc
    return proc


def new_routetable(namespace: str, name: str, routes: list[Obj], labels: Obj | None = None) -> str:
    return json.dumps({"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
                       "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                       "spec": {"routes": routes}})


def split(namespace: str, weights: dict[str, int], prefix: str = "/echo") -> Obj:
    return {"matchers": [{"prefix": prefix}], "routeAction": {"multi": {"destinations": [
        {"destination": upstream_destination(namespace, v), "weight": w} for v, w in weights.items()]}}}


# ---- each field, three ways ------------------------------------------------------------------------


def test_max_weight_step_refuses_finish_from_20_percent_until_traffic_is_shifted(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
    webhook: WebhookProcess,
) -> None:
    pid = webhook.pid  # every policy edit below reaches this same process
    assert pid is not None
    ns = make_namespace("step")
    name = f"steps-{TOKEN}"
    policies.apply(name, {"namespaceSelector": only(ns), "maxWeightStep": 25})
    kubectl_canary("init", "echo", "--version", "v1", "-n", ns)
    kubectl_canary("start", "echo", "--version", "v2", "-n", ns)
    kubectl_canary("shift", "echo", "--weight", "20", "-n", ns)

    # Enforce: finish would move 80 points at once. It is refused, and its first write is the traffic
    # move, so nothing changed (v1 still runs and takes 80%).
    finish = kubectl_canary("finish", "echo", "-n", ns, check=False)
    refused(finish, f"policy {name}: route /echo: v2 share 20 -> 100 changes by 80 points, over maxWeightStep 25; "
                    "shift in steps of at most 25 first, or ask the platform team")
    assert finish.stdout == ""
    status = json.loads(kubectl_canary("status", "echo", "-n", ns, "-o", "json", check=False).stdout)
    assert (status["phase"], status["weight"]) == ("weighted", 20)
    assert [v["deployment"] for v in status["versions"]] == ["echo-v1", "echo-v2"]
    assert [(p["name"], p["enforcement"], p["maxWeightStep"]) for p in status["policies"]] == [(name, "Enforce", 25)]
    table = kubectl_canary("status", "echo", "-n", ns, check=False).stdout
    assert f"Policy:      {name} (Enforce): maxWeightStep=25, allowCrossNamespaceUpstreams=false" in table
    # Shifted in steps of 25 at most, the same finish goes through.
    for weight in (45, 70, 95):
        kubectl_canary("shift", "echo", "--weight", str(weight), "-n", ns)
    kubectl_canary("finish", "echo", "-n", ns)

    # Warn: the next canary at 20%; kubectl prints the webhook's warning and the server dry run admits it.
    kubectl_canary("start", "echo", "--version", "v3", "-n", ns)
    kubectl_canary("shift", "echo", "--weight", "20", "-n", ns)
    policies.apply(name, {"namespaceSelector": only(ns), "maxWeightStep": 25, "enforcement": "Warn"})
    message = (f"policy {name}: route /echo: v3 share 20 -> 100 changes by 80 points, over maxWeightStep 25; "
               "shift in steps of at most 25 first, or ask the platform team")
    # --keep-old: a dry run of the delete would be judged against v2 still taking 80% (nothing is stored).
    warned(kubectl_canary("finish", "echo", "--keep-old", "--dry-run=server", "-n", ns, check=False), message)

    # Audit: finish from 20% goes through; only the webhook's log and metrics know.
    policies.apply(name, {"namespaceSelector": only(ns), "maxWeightStep": 25, "enforcement": "Audit"})
    silent(kubectl_canary("finish", "echo", "-n", ns, check=False))
    status = json.loads(kubectl_canary("status", "echo", "-n", ns, "-o", "json", check=False).stdout)
    assert (status["phase"], status["primary"]) == ("stable", "v3")
    audited(webhook, name, "maxWeightStep", message, ns)
    assert violations_total(webhook, name, "maxWeightStep", "Enforce") == 1
    assert violations_total(webhook, name, "maxWeightStep", "Warn") == 1

    policies.delete(name)
    assert "Policy:      none" in kubectl_canary("status", "echo", "-n", ns, check=False).stdout
    assert webhook.pid == pid


def test_api_group_is_injected_from_the_policy_and_required(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
    webhook: WebhookProcess,
) -> None:
    ns = make_namespace("group", **{"kubectl-canary.io/api-group": "from-namespace"})
    name, group = f"group-{TOKEN}", f"g-{TOKEN}"
    policies.apply(name, {"namespaceSelector": only(ns), "apiGroup": group})
    # The policy's group wins over the Namespace's label and the webhook's --default-api-group. (Written
    # without a label: `kubectl canary init` copies the Namespace's label itself, and would be refused.)
    direct = {"matchers": [{"prefix": "/echo"}], "directResponseAction": {"status": 200}}
    rt = new_routetable(ns, "echo-routes", [direct])
    created = control_plane.kubectl("create", "-f", "-", input=rt)
    assert f"Warning: label apiGroup={group} added (from CanaryPolicy {name})" in created.stderr
    assert routetable(control_plane, ns)["metadata"]["labels"]["apiGroup"] == group

    # A team cannot attach its routes to another group's VirtualService, not even by relabelling.
    relabel = ("label", "routetable", "echo-routes", "-n", ns, "apiGroup=other", "--overwrite")
    message = (f"policy {name}: label apiGroup=other is not allowed in namespace {ns}; its RouteTables must carry "
               f"apiGroup={group}")
    refused(control_plane.kubectl(*relabel, check=False), message)
    assert routetable(control_plane, ns)["metadata"]["labels"]["apiGroup"] == group

    policies.apply(name, {"namespaceSelector": only(ns), "apiGroup": group, "enforcement": "Warn"})
    warned(control_plane.kubectl(*relabel, "--dry-run=server", check=False), message)

    policies.apply(name, {"namespaceSelector": only(ns), "apiGroup": group, "enforcement": "Audit"})
    silent(control_plane.kubectl(*relabel, check=False))
    assert routetable(control_plane, ns)["metadata"]["labels"]["apiGroup"] == "other"
    audited(webhook, name, "apiGroup", message, ns)


def test_require_header_phase_admits_weighted_traffic_only_after_a_header_route(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
    webhook: WebhookProcess,
) -> None:
    ns = make_namespace("phase")
    name = f"phases-{TOKEN}"
    spec: Obj = {"namespaceSelector": only(ns), "requireHeaderPhase": True}
    policies.apply(name, spec)
    kubectl_canary("init", "echo", "--version", "v1", "-n", ns)
    kubectl_canary("start", "echo", "--version", "v2", "--no-route", "-n", ns)  # deployed, no route yet

    # Enforce: a hand edit giving v2 30% straight away, and a new RouteTable starting with a split.
    refused(replace_routes(control_plane, ns, [split(ns, {"v1": 70, "v2": 30})]),
            f"policy {name}: route /echo: v2 gets 30% of the traffic without a header-matched phase first; route "
            "header-matched requests to it first (kubectl canary start), then shift")
    created = new_routetable(ns, "split", [split(ns, {"v1": 50, "v2": 50}, "/split")])
    refused(control_plane.kubectl("create", "-f", "-", input=created, check=False),
            f"policy {name}: route /split: v2 gets 50% of the traffic without a header-matched phase first")
    # The two phases in order are what the policy asks for.
    kubectl_canary("start", "echo", "--version", "v2", "-n", ns)
    kubectl_canary("shift", "echo", "--weight", "30", "-n", ns)

    # v3 never had a header route.
    control_plane.kubectl("apply", "-f", "-",
                          input=json.dumps(objects.deployment("echo", ns, "v3", Workload(), "canary")))
    to_v3 = [split(ns, {"v1": 70, "v3": 30})]
    message = (f"policy {name}: route /echo: v3 gets 30% of the traffic without a header-matched phase first; "
               "route header-matched requests to it first (kubectl canary start), then shift")
    policies.apply(name, {**spec, "enforcement": "Warn"})
    warned(replace_routes(control_plane, ns, to_v3, "--dry-run=server"), message)
    policies.apply(name, {**spec, "enforcement": "Audit"})
    silent(replace_routes(control_plane, ns, to_v3))
    audited(webhook, name, "requireHeaderPhase", message, ns)


def test_prefixes_keep_a_team_under_its_own_paths(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
    webhook: WebhookProcess,
) -> None:
    ns = make_namespace("path")
    name = f"paths-{TOKEN}"
    spec: Obj = {"namespaceSelector": only(ns), "prefixes": ["/{namespace}"]}
    policies.apply(name, spec)
    kubectl_canary("init", "echo", "--version", "v1", "--prefix", f"/{ns}/echo", "-n", ns)

    def claim(prefix: str, dry_run: bool = False, rt_name: str = "claim") -> subprocess.CompletedProcess[str]:
        rt = new_routetable(ns, rt_name, [{"matchers": [{"prefix": prefix}],
                                           "routeAction": {"single": upstream_destination(ns, "v1")}}])
        return control_plane.kubectl("create", *(["--dry-run=server"] if dry_run else []), "-f", "-", input=rt,
                                     check=False)

    silent(claim(f"/{ns}/api", dry_run=True))  # under /{namespace}, by whole segments
    message = f"policy {name}: route /{ns}x: path /{ns}x is outside the allowed prefixes (/{ns})"
    refused(claim(f"/{ns}x"), message)
    policies.apply(name, {**spec, "enforcement": "Warn"})
    warned(claim(f"/{ns}x", dry_run=True), message)
    policies.apply(name, {**spec, "enforcement": "Audit"})
    silent(claim(f"/{ns}x"))
    audited(webhook, name, "prefixes", message, ns)

    # Deleting the policy lifts the rule at once: the same kind of claim is no longer even recorded.
    policies.delete(name)
    before = len(log_lines(webhook))
    silent(claim("/elsewhere", dry_run=True, rt_name="elsewhere"))
    # Gloo's status writes (UPDATEs) of this namespace's other RouteTables are logged too: only the claim counts.
    after = [entry for entry in log_lines(webhook)[before:]
             if entry.get("namespace") == ns and entry.get("operation") == "CREATE"]
    assert [(entry["endpoint"], entry["decision"]) for entry in after] == [("mutate", "patched"),
                                                                          ("validate", "allowed")]
    assert all("violations" not in entry for entry in after)


def test_routes_reach_only_services_of_their_own_namespace(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
    webhook: WebhookProcess,
) -> None:
    team, other = make_namespace("team"), make_namespace("other")
    kubectl_canary("init", "echo", "--version", "v1", "-n", other)  # another team's service
    name = f"iso-{TOKEN}"
    # Nothing but a selector: the CRD defaults allowCrossNamespaceUpstreams to false.
    policies.apply(name, {"namespaceSelector": only(team)})
    stored = json.loads(control_plane.kubectl("get", "canarypolicy", name, "-o", "json").stdout)
    assert stored["spec"]["allowCrossNamespaceUpstreams"] is False

    borrow = new_routetable(team, "borrow", [{"matchers": [{"prefix": "/borrow"}],
                                              "routeAction": {"single": upstream_destination(other, "v1")}}])
    message = (f"policy {name}: route /borrow -> Upstream {other}/echo: routes in namespace {team} may only reach "
               f"services in namespace {team} (allowCrossNamespaceUpstreams is false)")
    refused(control_plane.kubectl("create", "-f", "-", input=borrow, check=False), message)
    policies.apply(name, {"namespaceSelector": only(team), "allowCrossNamespaceUpstreams": True})
    silent(control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=borrow, check=False))
    policies.apply(name, {"namespaceSelector": only(team), "enforcement": "Warn"})
    warned(control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=borrow, check=False), message)
    policies.apply(name, {"namespaceSelector": only(team), "enforcement": "Audit"})
    silent(control_plane.kubectl("create", "-f", "-", input=borrow, check=False))
    audited(webhook, name, "allowCrossNamespaceUpstreams", message, team)


# ---- several policies ------------------------------------------------------------------------------


def test_selection_exemption_strictest_value_and_enforcement_per_policy(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
) -> None:
    tier = f"web-{TOKEN}"
    governed, exempt, unlabelled = (make_namespace("a", tier=tier), make_namespace("b", tier=tier),
                                    make_namespace("c"))
    loose, tight = f"loose-{TOKEN}", f"tight-{TOKEN}"
    policies.apply(loose, {"namespaceSelector": {"matchLabels": {"tier": tier}}, "maxWeightStep": 50,
                           "exemptNamespaces": [exempt]})
    policies.apply(tight, {"namespaceSelector": only(governed), "maxWeightStep": 25})
    for ns in (governed, exempt, unlabelled):
        kubectl_canary("init", "echo", "--version", "v1", "-n", ns)
        kubectl_canary("start", "echo", "--version", "v2", "-n", ns)

    # Both govern `governed`: the strictest step (25) applies and the denial names the policy imposing it.
    shifted = kubectl_canary("shift", "echo", "--weight", "40", "-n", governed, check=False)
    refused(shifted, f"policy {tight}: route /echo: v2 share 0 -> 40 changes by 40 points, over maxWeightStep 25")
    assert f"policy {loose}" not in shifted.stderr
    # `exempt` is exempt from `loose` and not selected by `tight`; `unlabelled` is selected by neither.
    for ns in (exempt, unlabelled):
        kubectl_canary("shift", "echo", "--weight", "100", "-n", ns)
    status = json.loads(kubectl_canary("status", "echo", "-n", governed, "-o", "json", check=False).stdout)
    assert [p["name"] for p in status["policies"]] == sorted([loose, tight])
    exempt_status = kubectl_canary("status", "echo", "-n", exempt, "-o", "json", check=False).stdout
    assert json.loads(exempt_status)["policies"] == []

    # Each policy keeps its own enforcement: `tight` only warns now, `loose` still denies.
    policies.apply(tight, {"namespaceSelector": only(governed), "maxWeightStep": 25, "enforcement": "Warn"})
    warned(kubectl_canary("shift", "echo", "--weight", "40", "-n", governed, check=False),
           f"policy {tight}: route /echo: v2 share 0 -> 40 changes by 40 points, over maxWeightStep 25")
    both = kubectl_canary("shift", "echo", "--weight", "100", "-n", governed, check=False)
    refused(both, f"policy {loose}: route /echo: v2 share 40 -> 100 changes by 60 points, over maxWeightStep 50")
    assert f"Warning: policy {tight}: route /echo: v2 share 40 -> 100" in both.stderr


def test_an_analysis_section_is_stored_as_written_and_shown_by_status(
    control_plane: ControlPlane, kubectl_canary: Run, policies: Policies, make_namespace: Callable[..., str],
) -> None:
    # The defaults `shift --step` takes (the webhook enforces none of them): the CRD's schema keeps them.
    ns = make_namespace("analysis")
    name = f"analysis-{TOKEN}"
    analysis = {"maxErrorRate": 2, "errorRateMargin": 0.5, "minRequests": 50, "maxLatency": {"p99": "500ms"},
                "latencyRatio": 1.5, "interval": "1m", "maxInconclusive": 3, "onInconclusive": "Abort"}
    policies.apply(name, {"namespaceSelector": only(ns), "analysis": analysis})
    stored = json.loads(control_plane.kubectl("get", "canarypolicy", name, "-o", "json").stdout)
    assert stored["spec"]["analysis"] == analysis
    bad = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", check=False, input=json.dumps(policy_object(
        name, {"analysis": {"onInconclusive": "Later"}})))
    assert bad.returncode != 0 and "onInconclusive" in bad.stderr
    kubectl_canary("init", "echo", "--version", "v1", "-n", ns)
    shown = kubectl_canary("status", "echo", "-n", ns, check=False).stdout
    assert "analysis.maxErrorRate=2, analysis.errorRateMargin=0.5, analysis.minRequests=50" in shown
    assert "analysis.onInconclusive=Abort, analysis.maxLatency.p99=500ms" in shown
