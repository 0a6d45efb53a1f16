"""`kubectl canary` in cluster mode against a real kube-apiserver, through the built kubectl, with the
webhook registered as deploy/ ships it (fixture `webhook`):

- `status` reports the phase, the weights per version, the header rule, each Deployment's replicas
  and ready endpoints as the controllers and the node agent make them, and drift when someone edits
  the RouteTable's annotations by hand (no VirtualService delegates to these RouteTables, so
  `status` names that problem and exits 1; tests/e2e/test_traffic.py shows the healthy exit 0);
- `list -A` shows every managed service of the cluster with its namespace and phase;
- `abort` sends all traffic back to the primary and keeps the canary's Deployment, `--delete-canary`
  removes it, and running it again is harmless;
- errors from the cluster are one line naming the context and the verb, exit 1, nothing written: a
  user without any rights, a user who may read but not write, and a kubeconfig whose server port is
  closed.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .controlplane import CONTEXT, ControlPlane, free_port, written

Run = Callable[..., subprocess.CompletedProcess[str]]
Obj = dict[str, Any]

pytestmark = pytest.mark.usefixtures("webhook")


def status_of(kubectl_canary: Run, service: str, namespace: str, **kwargs: Any) -> Obj:
    shown = kubectl_canary("status", service, "-n", namespace, "-o", "json", check=False, **kwargs)
    assert shown.returncode in (0, 1) and shown.stdout, shown.stderr  # 1: problems on the data path, shown
    found: Obj = json.loads(shown.stdout)
    return found


def routetable(control_plane: ControlPlane, namespace: str, service: str = "echo") -> Obj:
    found: Obj = json.loads(control_plane.kubectl(
        "get", "routetable", f"{service}-routes", "-n", namespace, "-o", "json").stdout)
    return found


def canary_at(kubectl_canary: Run, namespace: str, weight: int, service: str = "echo") -> None:
    """`service` with primary v1 and canary v2 taking `weight` percent."""
    kubectl_canary("init", service, "--version", "v1", "-n", namespace)
    kubectl_canary("start", service, "--version", "v2", "--header", "x-canary=yes", "-n", namespace)
    kubectl_canary("shift", service, "--weight", str(weight), "-n", namespace)


# ---- status and list -------------------------------------------------------------------------------


def test_status_shows_phase_weights_header_and_deployments(kubectl_canary: Run, namespace: str) -> None:
    canary_at(kubectl_canary, namespace, 30)
    deadline = time.monotonic() + 60
    while True:  # until the node agent reports both pods Ready and they are endpoints
        shown = kubectl_canary("status", "echo", "-n", namespace, check=False)
        table = shown.stdout
        rows = [line.split() for line in table.splitlines() if line.startswith("v")]
        if [r[-2:] for r in rows] == [["1/1", "1"], ["1/1", "1"]] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "Phase:       weighted" in table
    assert "Header:      x-canary=yes -> v2" in table
    assert f"RouteTable:  {namespace}/echo-routes (apiGroup example)" in table
    assert rows == [["v1", "primary", "70%", "-", "echo-v1", "1/1", "1"], ["v2", "canary", "30%", "yes", "echo-v2",
                                                                          "1/1", "1"]]
    assert "Drift:       none" in table
    assert shown.returncode == 1 and "  - no VirtualService delegates to RouteTable" in table
    found = status_of(kubectl_canary, "echo", namespace)
    assert (found["phase"], found["primary"], found["canary"], found["weight"]) == ("weighted", "v1", "v2", 30)
    assert found["headers"] == {"x-canary": "yes"} and found["apiGroup"] == "example"
    assert [(v["version"], v["weight"], v["readyReplicas"], v["replicas"], v["readyEndpoints"])
            for v in found["versions"]] == [("v1", 70, 1, 1, 1), ("v2", 30, 1, 1, 1)]


def test_status_reports_drift_after_a_hand_edit(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    canary_at(kubectl_canary, namespace, 30)
    # Someone edits the recorded intent by hand; the routes (the truth) still say 30.
    control_plane.kubectl("annotate", "routetable", "echo-routes", "-n", namespace,
                          "kubectl-canary.io/weight=80", "--overwrite")
    found = status_of(kubectl_canary, "echo", namespace)
    assert found["weight"] == 30
    assert any("weight" in line and "80" in line and "30" in line for line in found["drift"]), found["drift"]
    assert "Drift:       none" not in kubectl_canary("status", "echo", "-n", namespace, check=False).stdout


def test_list_all_namespaces_shows_every_managed_service(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    other = f"{namespace}-b"
    control_plane.kubectl("create", "namespace", other)
    try:
        canary_at(kubectl_canary, namespace, 30)
        kubectl_canary("init", "foxtrot", "--version", "v3", "-n", other)
        listed = kubectl_canary("list", "-A").stdout.splitlines()
        assert listed[0].split() == ["NAMESPACE", "SERVICE", "PHASE", "PRIMARY", "CANARY", "WEIGHT"]
        rows = [line.split() for line in listed[1:]]
        assert [namespace, "echo", "weighted", "v1", "v2", "30"] in rows
        assert [other, "foxtrot", "stable", "v3", "-", "-"] in rows
        # Without -A: the namespace given, and no NAMESPACE column.
        assert kubectl_canary("list", "-n", other).stdout.splitlines()[1].split() == [
            "foxtrot", "stable", "v3", "-", "-"]
        as_json = json.loads(kubectl_canary("list", "-A", "-o", "json").stdout)
        assert {"namespace": other, "service": "foxtrot", "phase": "stable"}.items() <= next(
            s for s in as_json if s["namespace"] == other).items()
    finally:
        control_plane.kubectl("delete", "namespace", other, "--wait=false", check=False)


# ---- abort -----------------------------------------------------------------------------------------


def test_abort_sends_all_traffic_back_and_keeps_the_canary_deployment(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    canary_at(kubectl_canary, namespace, 30)
    aborted = kubectl_canary("abort", "echo", "-n", namespace)
    assert aborted.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes configured"]
    assert f"Deployment {namespace}/echo-v2 kept without traffic" in aborted.stderr
    rt = routetable(control_plane, namespace)
    assert rt["spec"]["routes"] == [{"matchers": [{"prefix": "/echo"}], "routeAction": {"single": {
        "upstream": {"name": "echo", "namespace": namespace}, "subset": {"values": {"version": "v1"}}}}}]
    assert rt["metadata"]["annotations"]["kubectl-canary.io/phase"] == "stable"
    assert "kubectl-canary.io/canary" not in rt["metadata"]["annotations"]
    deployments = control_plane.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
    assert deployments == ["deployment.apps/echo-v1", "deployment.apps/echo-v2"]
    # Running it again changes nothing and says so.
    again = kubectl_canary("abort", "echo", "-n", namespace)
    assert "already stable on v1" in again.stderr
    assert routetable(control_plane, namespace)["spec"] == rt["spec"]


def test_abort_delete_canary_removes_the_canary_deployment(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    canary_at(kubectl_canary, namespace, 100)
    aborted = kubectl_canary("abort", "echo", "-n", namespace, "--delete-canary")
    # Traffic first, then the Deployment: the webhook would refuse deleting v2 while it takes traffic.
    assert aborted.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes configured",
                                           "deployment.apps/echo-v2 deleted"]
    deployments = control_plane.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
    assert deployments == ["deployment.apps/echo-v1"]
    assert status_of(kubectl_canary, "echo", namespace)["phase"] == "stable"


# ---- errors from the cluster -----------------------------------------------------------------------


def test_a_user_without_rights_gets_forbidden_naming_context_and_verb(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    nobody = control_plane.kubeconfig_for_user("e2e-nobody")
    refused = kubectl_canary("status", "echo", "-n", namespace, kubeconfig=nobody, check=False)
    assert refused.returncode == 1
    assert refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    # The service's RouteTable may have any name (SPEC 1), so the plugin lists them.
    assert line.startswith(f"error: forbidden: context {CONTEXT} may not list routetables in namespace {namespace}")
    assert f"ask for RBAC permission to list routetables.gateway.solo.io in namespace {namespace}" in line
    listed = kubectl_canary("list", "-A", kubeconfig=nobody, check=False)
    assert listed.returncode == 1
    assert listed.stderr.startswith(f"error: forbidden: context {CONTEXT} may not list routetables in all namespaces")


def test_a_reader_may_look_but_not_shift(control_plane: ControlPlane, kubectl_canary: Run, namespace: str) -> None:
    canary_at(kubectl_canary, namespace, 30)
    control_plane.kubectl("create", "role", "canary-reader", "-n", namespace, "--verb=get,list",
                          "--resource=routetables.gateway.solo.io,upstreams.gloo.solo.io,services,deployments.apps")
    control_plane.kubectl("create", "rolebinding", "canary-reader", "-n", namespace, "--role=canary-reader",
                          "--user=e2e-reader")
    reader = control_plane.kubeconfig_for_user("e2e-reader")
    # Reading works (the Namespace, which it may not read, is only a default for the apiGroup); the data
    # path (Pods, EndpointSlices) it may not list is a problem `status` names.
    shown = status_of(kubectl_canary, "echo", namespace, kubeconfig=reader)
    assert shown["weight"] == 30
    assert shown["problems"][0].startswith("cannot tell what the data path does: forbidden: context "), shown
    before = routetable(control_plane, namespace)
    refused = kubectl_canary("shift", "echo", "--weight", "60", "-n", namespace, kubeconfig=reader, check=False)
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"error: forbidden: context {CONTEXT} may not apply RouteTable {namespace}/echo-routes")
    assert f"ask for RBAC permission to patch routetables.gateway.solo.io in namespace {namespace}" in line
    assert written(routetable(control_plane, namespace)) == written(before)


def test_an_unreachable_cluster_is_one_line_naming_context_and_verb(
    control_plane: ControlPlane, kubectl_canary: Run, tmp_path: Path
) -> None:
    config = json.loads(control_plane.kubeconfig.read_text())
    port = free_port()  # nothing listens on it
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    closed = tmp_path / "kubeconfig"
    closed.write_text(json.dumps(config))
    refused = kubectl_canary("status", "echo", "-n", "echo", kubeconfig=closed, check=False)
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the cluster of context {CONTEXT} to list routetables in namespace "
                           "echo")
    shifted = kubectl_canary("shift", "echo", "--weight", "10", "-n", "echo", kubeconfig=closed, check=False)
    assert shifted.returncode == 1
    assert shifted.stderr.startswith(f"error: cannot reach the cluster of context {CONTEXT} to list ")
