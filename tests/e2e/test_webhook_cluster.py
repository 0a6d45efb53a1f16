"""The webhook's view of the session's cluster: its watch caches and its request log.

test_workflow.py shows what kubectl users see of the registered webhook (mutations and their
warnings, denials, the delete guard, objects created a moment before the RouteTable); this module
shows the two things behind it that no kubectl output reveals:

- the watch caches (webhook.cluster.cache.InformerLookup) are ready while an optional kind's CRD is not
  installed, follow objects created after their first list, and pick the kind up when its CRD is
  installed later. Which kind: the CanaryPolicy CRD may already be installed in this session (other
  modules install it and leave it), so the late kind is one only this test installs, watched the way
  InformerLookup watches CanaryPolicies (optional, read through `policies()` and, compiled, `policy_set()`);
- the real `canary-webhook serve` process (fixture `webhook`, registered as deploy/base ships it) logs
  every admission request it answers as one JSON line, with its uid, object and decision.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kubectl_canary.core import objects
from kubectl_canary.core.kinds import Kind
from kubectl_canary.core.objects import Workload
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client

from .controlplane import ControlPlane
from .webhook import WebhookProcess, destination, route_table

Obj = dict[str, Any]
T = TypeVar("T")

REQUESTS_LOGGER = "canary_webhook.requests"
VALIDATE = "routetables.validate.kubectl-canary.io"


def eventually(check: Callable[[], T], what: str, timeout: float = 30) -> T:
    """The first truthy result of `check`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen after {timeout}s")
        time.sleep(0.1)


def as_list(items: Sequence[Obj]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def names(items: Sequence[Obj]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in items)


# ---- the watch caches ------------------------------------------------------------------------------


def late_crd(kind: Kind) -> Obj:
    """A cluster-scoped CRD for `kind` that accepts any spec."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kind.group}"},
        "spec": {
            "group": kind.group, "scope": "Cluster",
            "names": {"kind": kind.kind, "plural": kind.plural, "singular": kind.kind.lower(),
                      "listKind": f"{kind.kind}List"},
            "versions": [{"name": kind.version, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def test_the_watch_caches_follow_the_cluster_and_pick_up_a_crd_installed_later(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    late = Kind(f"late-{secrets.token_hex(3)}.e2e.kubectl-canary.io/v1alpha1", "LatePolicy", "latepolicies",
                namespaced=False)
    control_plane.kubectl("create", "-f", "-", input=as_list([objects.upstream("echo", namespace)]))
    # Not a mock: the product's own policy cache (optional: its CRD may be absent), watching a real kind of
    # this cluster, one whose CRD is certainly not installed yet.
    lookup = InformerLookup(api_client(str(control_plane.kubeconfig)), absent_retry=0.2, policy_kind=late)
    crd = tmp_path / "late-crd.yaml"
    crd.write_text(yaml.safe_dump(late_crd(late)), encoding="utf-8")
    lookup.start()
    try:
        # Ready without the optional kind's CRD: there are no policies to wait for.
        assert lookup.wait_ready(60) and lookup.ready()
        assert lookup.policies() == [] and lookup.policies_cache.absent and lookup.policy_set() == ([], [])
        assert lookup.upstream(namespace, "echo") is not None and lookup.namespace(namespace) is not None
        # A Deployment created after the first list reaches the cache through the watch.
        control_plane.kubectl("create", "-f", "-", input=as_list(
            [objects.deployment("echo", namespace, "v7", Workload(), "canary")]))
        eventually(lambda: names(lookup.deployments(namespace)) == ["echo-v7"], "the Deployment in the cache")
        # ...and so does the Upstream's: its pods live in its own namespace.
        assert names(lookup.upstreams_for(namespace)) == ["echo"]
        # The CRD installed now, and an object of it created: the cache retries, lists and then watches.
        control_plane.install_crds([crd])
        control_plane.kubectl("create", "-f", "-", input=as_list(
            [{"apiVersion": late.api_version, "kind": late.kind, "metadata": {"name": "everyone"}, "spec": {}}]))
        found = eventually(lookup.policies, f"a {late.kind} in the cache")
        assert names(found) == ["everyone"] and not lookup.policies_cache.absent
        # ...and follows it from then on.
        control_plane.kubectl("create", "-f", "-", input=as_list(
            [{"apiVersion": late.api_version, "kind": late.kind, "metadata": {"name": "team-a"}, "spec": {}}]))
        eventually(lambda: names(lookup.policies()) == ["everyone", "team-a"], f"the second {late.kind}")
        # The compiled policies followed the same events (no spec: every default).
        assert [p.name for p in lookup.policy_set()[0]] == ["everyone", "team-a"]
    finally:
        lookup.stop()
        control_plane.kubectl("delete", "crd", f"{late.plural}.{late.group}", "--ignore-not-found", "--wait=false",
                              check=False)


# ---- the request log ------------------------------------------------------------------------------


def logged_requests(webhook: WebhookProcess, namespace: str) -> list[Obj]:
    """The webhook's request log lines about objects of `namespace`; every line must be JSON."""
    lines = [line for line in webhook.log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError as err:
            raise AssertionError(f"the webhook logged a line that is not JSON: {line!r}") from err
    return [e for e in entries if e.get("logger") == REQUESTS_LOGGER and e.get("namespace") == namespace]


def test_the_webhook_logs_each_request_as_a_json_line(
    control_plane: ControlPlane, webhook: WebhookProcess, namespace: str
) -> None:
    control_plane.kubectl("create", "-f", "-", input=as_list([
        objects.upstream("echo", namespace),
        *(objects.deployment("echo", namespace, v, Workload(), role) for v, role in (("v1", "primary"),
                                                                                   ("v2", "canary"))),
    ]))
    multi = {"multi": {"destinations": [destination(namespace, "v1", 1), destination(namespace, "v2", 3)]}}
    control_plane.kubectl("apply", "-f", "-", input=route_table(namespace, "quarter", multi))
    refused = control_plane.kubectl("apply", "-f", "-", check=False, input=route_table(
        namespace, "to-v3", {"single": destination(namespace, "v3")["destination"]}))
    assert f'admission webhook "{VALIDATE}" denied the request' in refused.stderr, refused.stderr

    # The Upstream's CREATE and Gloo's status writes (UPDATEs of "quarter") are logged too; these are the
    # test's own RouteTable CREATEs.
    logged = [e for e in logged_requests(webhook, namespace)
              if e["operation"] == "CREATE" and e["kind"] == "RouteTable.gateway.solo.io"]
    # The webhook writes its line before it answers, so kubectl's return means the line is there.
    decisions = {(e["name"], e["endpoint"]): e["decision"] for e in logged}
    assert decisions == {("quarter", "mutate"): "patched", ("quarter", "validate"): "allowed",
                         ("to-v3", "mutate"): "patched", ("to-v3", "validate"): "denied"}, webhook.log_tail()
    for entry in logged:
        assert entry["uid"] and entry["operation"] == "CREATE" and entry["kind"] == "RouteTable.gateway.solo.io"
        assert entry["level"] == "info" and entry["time"]
    (denial,) = [e for e in logged if e["decision"] == "denied"]
    assert denial["reasons"], denial


def test_gloos_status_writes_are_admitted_without_calling_the_webhook(
    control_plane: ControlPlane, webhook: WebhookProcess, namespace: str
) -> None:
    """The shipped matchConditions: an UPDATE that changes neither spec nor labels nor annotations (Gloo's
    status writes, full UPDATEs since the CRDs have no status subresource) is admitted and never sent to us."""
    control_plane.kubectl("create", "-f", "-", input=as_list([
        objects.upstream("echo", namespace), objects.service("echo", namespace),
        objects.deployment("echo", namespace, "v1", Workload(), "primary"),
    ]))
    control_plane.kubectl("apply", "-f", "-", input=route_table(namespace, "status-only", {
        "single": destination(namespace, "v1")["destination"]}))
    deadline = time.monotonic() + 60
    while True:  # until Gloo has written its status on the RouteTable and the Upstream
        stored = [json.loads(control_plane.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
                  for kind, name in (("routetable", "status-only"), ("upstream", "echo"))]
        if all((o.get("status") or {}).get("statuses") for o in stored):
            break
        assert time.monotonic() < deadline, f"Gloo wrote no status: {[o.get('status') for o in stored]}"
        time.sleep(0.5)
    seen = {(e["kind"].split(".")[0], e["name"], e["operation"]) for e in logged_requests(webhook, namespace)}
    assert ("RouteTable", "status-only", "CREATE") in seen and ("Upstream", "echo", "CREATE") in seen, seen
    assert not {s for s in seen if s[2] == "UPDATE"}, seen
    # A label change is an UPDATE the webhook does judge.
    control_plane.kubectl("label", "routetable", "status-only", "-n", namespace, "team=a")
    seen = {(e["kind"].split(".")[0], e["name"], e["operation"]) for e in logged_requests(webhook, namespace)}
    assert ("RouteTable", "status-only", "UPDATE") in seen, seen
