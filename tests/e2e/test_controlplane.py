"""End-to-end checks of the test control plane itself: the built kube-apiserver, kubectl, etcd and
helm report the pinned versions, the real Gloo Edge CRDs are served, objects shaped like the seed's
chart (a kube Upstream with a subsetSpec, a RouteTable with a header-matched canary route and weighted
multi destinations) are accepted, wrongly typed fields are rejected by the CRD schemas, and RBAC is
enforced for non-admin users.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from . import tools
from .controlplane import ControlPlane

GLOO_CRDS = [
    "routetables.gateway.solo.io",
    "virtualservices.gateway.solo.io",
    "upstreams.gloo.solo.io",
    "upstreamgroups.gloo.solo.io",
]


def upstream(name: str, namespace: str) -> dict[str, Any]:
    """The seed's Upstream template for service `name`."""
    return {
        "apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"kube": {
            "selector": {"app": name}, "serviceName": name, "serviceNamespace": namespace,
            "servicePort": 8080, "subsetSpec": {"selectors": [{"keys": ["version"]}]},
        }},
    }


def destination(name: str, namespace: str, version: str, weight: Any) -> dict[str, Any]:
    return {
        "destination": {"upstream": {"name": name, "namespace": namespace}, "subset": {"values": {"version": version}}},
        "weight": weight,
    }


def route_table(name: str, namespace: str, weights: tuple[Any, Any] = (70, 30)) -> dict[str, Any]:
    """The seed's RouteTable in phase 2: header-matched canary route, then v1/v2 weighted route."""
    canary_route = {
        "matchers": [{"headers": [{"name": "stage", "value": "canary"}], "prefix": f"/{name}"}],
        "routeAction": {"single": {"upstream": {"name": name, "namespace": namespace},
                                   "subset": {"values": {"version": "v2"}}}},
    }
    weighted_route = {
        "matchers": [{"prefix": f"/{name}"}],
        "routeAction": {"multi": {"destinations": [
            destination(name, namespace, "v1", weights[0]), destination(name, namespace, "v2", weights[1]),
        ]}},
    }
    return {
        "apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
        "metadata": {"name": f"{name}-routes", "namespace": namespace, "labels": {"apiGroup": "example"}},
        "spec": {"routes": [canary_route, weighted_route]},
    }


def apply(cp: ControlPlane, obj: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
    return cp.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj), check=check)


def get_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def test_apiserver_and_kubectl_report_pinned_version(control_plane: ControlPlane) -> None:
    server = json.loads(control_plane.kubectl("get", "--raw", "/version").stdout)
    assert server["gitVersion"] == tools.version("k8s") == "v1.37.2"
    assert (server["major"], server["minor"]) == ("1", "37")
    both = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert both["clientVersion"]["gitVersion"] == "v1.37.2"
    assert both["serverVersion"]["gitVersion"] == "v1.37.2"


def test_etcd_reports_version_pinned_by_kubernetes() -> None:
    out = subprocess.run([tools.tool("etcd"), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"etcd Version: {tools.version('etcd').lstrip('v')}" in out


def test_helm_reports_pinned_version(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}  # helm wants a writable home for its config
    out = subprocess.run(
        [tools.tool("helm"), "version", "--template", "{{.Version}}"], capture_output=True, text=True,
        check=True, env=env,
    ).stdout
    assert out == tools.version("helm") == "v3.22.0"


@pytest.mark.parametrize("crd", GLOO_CRDS)
def test_gloo_crd_is_established(control_plane: ControlPlane, crd: str) -> None:
    conditions = {c["type"]: c["status"] for c in get_json(control_plane, "crd", crd)["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"


def test_gloo_kinds_are_discoverable(control_plane: ControlPlane) -> None:
    out = control_plane.kubectl("api-resources", "--api-group=gateway.solo.io", "-o", "name").stdout.split()
    assert {"routetables.gateway.solo.io", "virtualservices.gateway.solo.io"} <= set(out)


def test_seed_upstream_is_accepted_and_kept(control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, upstream("echo", namespace))
    spec = get_json(control_plane, "upstream.gloo.solo.io", "echo", "-n", namespace)["spec"]["kube"]
    assert spec["servicePort"] == 8080
    assert spec["subsetSpec"] == {"selectors": [{"keys": ["version"]}]}


def test_seed_route_table_is_accepted_and_kept(control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, route_table("echo", namespace))
    rt = get_json(control_plane, "routetable.gateway.solo.io", "echo-routes", "-n", namespace)
    canary, weighted = rt["spec"]["routes"]
    assert canary["matchers"][0]["headers"] == [{"name": "stage", "value": "canary"}]
    assert [d["weight"] for d in weighted["routeAction"]["multi"]["destinations"]] == [70, 30]
    assert rt["metadata"]["labels"]["apiGroup"] == "example"


def routes_not_a_list(rt: dict[str, Any]) -> None:
    rt["spec"]["routes"] = "x"


def weight_not_a_number(rt: dict[str, Any]) -> None:
    rt["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][0]["weight"] = "abc"


def weight_negative(rt: dict[str, Any]) -> None:
    rt["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][0]["weight"] = -1


WEIGHT = "spec.routes[1].routeAction.multi.destinations[0].weight"


# (how to break the object, the field path, what `create` says, what `apply --server-side` says):
# create runs the CRD's OpenAPI validation; server-side apply first converts the object to the
# CRD's structural schema type and fails there for a wrong type.
@pytest.mark.parametrize(
    "break_it, field, create_says, ssa_says",
    [
        (routes_not_a_list, "spec.routes", "must be of type array", "expected list"),
        (weight_not_a_number, WEIGHT, "must be of type integer", "expected numeric"),
        (weight_negative, WEIGHT, "should be greater than or equal to 0", "should be greater than or equal to 0"),
    ],
    ids=["routes-string", "weight-string", "weight-negative"],
)
@pytest.mark.parametrize("verb", ["create", "apply --server-side"])
def test_crd_schema_rejects_bad_route_table(
    control_plane: ControlPlane, namespace: str, verb: str,
    break_it: Any, field: str, create_says: str, ssa_says: str,
) -> None:
    bad = route_table("echo", namespace)
    break_it(bad)
    proc = control_plane.kubectl(*verb.split(), "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0
    assert field in proc.stderr
    assert (create_says if verb == "create" else ssa_says) in proc.stderr
    stored = control_plane.kubectl("get", "routetables.gateway.solo.io", "-n", namespace, "-o", "name")
    assert stored.stdout.strip() == ""


def test_rbac_is_enforced_for_other_users(control_plane: ControlPlane, namespace: str) -> None:
    user = f"dev-{namespace}"
    denied = control_plane.kubectl("get", "routetables.gateway.solo.io", "-n", namespace, user=user, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    control_plane.kubectl("create", "role", "rt-reader", "-n", namespace,
                          "--verb=get,list", "--resource=routetables.gateway.solo.io")
    control_plane.kubectl("create", "rolebinding", "rt-reader", "-n", namespace, "--role=rt-reader", f"--user={user}")
    allowed = control_plane.kubectl("get", "routetables.gateway.solo.io", "-n", namespace, user=user)
    assert allowed.returncode == 0


def test_user_groups_come_from_the_client_cert(control_plane: ControlPlane) -> None:
    control_plane.kubeconfig_for_user("carol", ["canary-team", "qa"])
    review = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", user="carol").stdout)
    info = review["status"]["userInfo"]
    assert info["username"] == "carol"
    assert {"canary-team", "qa", "system:authenticated"} <= set(info["groups"])
