"""The routing rules the webhook and `kubectl canary status` decide by, shown on real gloo and Envoy.

Each test applies objects by hand with our webhooks unregistered (so Gloo alone judges them), reads Gloo's
status on them, sends requests through the gateway, and then asks the product what it makes of the same
objects (its pure rule, or the webhook itself, registered, on a server dry run):

- a pod that lacks a subset key gets "" for it: a route to `version: ""` reaches exactly those pods;
- an Upstream without `subsetSpec`, and a static Upstream, ignore a route's subset;
- a `multi` destination without a weight gets no traffic (a missing weight counts as 0);
- a route without matchers matches every path (`prefix: /`);
- delegation: a `ref` without a namespace delegates to nothing (Gloo looks it up in namespace "", and
  warns); a `selector` without `namespaces` selects in the VirtualService's own namespace.

Each test has its own VirtualService (domain `<namespace>-<tag>.e2e`) and RouteTables, so no other test's
routes are in the way.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubectl_canary.core import names
from kubectl_canary.core import routetable as rtm
from kubectl_canary.core.datapath import delegates_to
from webhook.admission.lookup import labels_serve, pod_labels
from webhook.admission.validation import carries_traffic

from .controlplane import ControlPlane
from .gateway import GLOO_NAMESPACE, Gateway
from .rollout import Rollout, Site
from .traffic import sample, wait_for
from .webhook import WebhookProcess, register, unregister

Obj = dict[str, Any]
N = 100


@pytest.fixture
def unguarded(control_plane: ControlPlane) -> Iterator[None]:
    """Our webhooks unregistered: Gloo alone judges what is applied (no other module's registration outlives it)."""
    unregister(control_plane)
    yield
    unregister(control_plane)


@pytest.fixture
def echo(rollout: Callable[[str, str], Rollout], namespace: str, site: Site, unguarded: None) -> Rollout:
    """Service echo in the test's namespace: Deployments echo-v1 and echo-v2 serving, its Service and its
    Upstream `echo` (subsetSpec keys [version]), made by the plugin."""
    svc = rollout(namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", site.group)
    svc.canary("start", "--version", "v2")
    svc.healthy()
    svc.wait_for({"v1"}, {"v2"})
    return svc


@pytest.fixture
def applied(control_plane: ControlPlane) -> Iterator[Callable[[Obj], Obj]]:
    """applied(obj): kubectl apply it; every object applied is deleted after the test (those in gloo-system
    would outlive the test's namespace)."""
    made: list[Obj] = []

    def apply(obj: Obj) -> Obj:
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(obj))
        made.append(obj)
        return obj

    yield apply
    for obj in reversed(made):
        meta = obj["metadata"]
        control_plane.kubectl("delete", obj["kind"].lower(), meta["name"], "-n", meta["namespace"],
                              "--ignore-not-found", "--wait=false", check=False)


def to(namespace: str, upstream: str, subset: dict[str, str] | None = None) -> Obj:
    """A destination: Upstream `namespace/upstream`, with `subset` when given."""
    found: Obj = {"upstream": {"name": upstream, "namespace": namespace}}
    if subset is not None:
        found["subset"] = {"values": subset}
    return found


def version(namespace: str, value: str) -> Obj:
    """A `single` route action to the Upstream echo of `namespace`, subset version=`value`."""
    return {"single": to(namespace, "echo", {"version": value})}


def route(prefix: str | None, action: Obj) -> Obj:
    return {**({"matchers": [{"prefix": prefix}]} if prefix is not None else {}), "routeAction": action}


def route_table(namespace: str, name: str, routes: list[Obj], group: str | None = None) -> Obj:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": name, "namespace": namespace, **({"labels": {"apiGroup": group}} if group else {})},
            "spec": {"routes": routes}}


def virtual_service(namespace: str, name: str, domain: str, delegate: Obj) -> Obj:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"virtualHost": {"domains": [domain], "routes": [
                {"matchers": [{"prefix": "/"}], "delegateAction": delegate}]}}}


def own_site(applied: Callable[[Obj], Obj], namespace: str, tag: str) -> Site:
    """A VirtualService in gloo-system delegating to the RouteTables labelled apiGroup=`<namespace>-<tag>`."""
    group = f"{namespace}-{tag}"[-63:].lstrip("-")
    applied(virtual_service(GLOO_NAMESPACE, f"vs-{group}"[:63], f"{group}.e2e",
                            {"selector": {"labels": {"apiGroup": group}, "namespaces": ["*"]}}))
    return Site(group, f"{group}.e2e")


def gloo_state(cp: ControlPlane, kind: str, namespace: str, name: str, timeout: float = 60,
               until: Callable[[Obj], bool] = lambda state: True) -> Obj:
    """Gloo's status on the object (`state`, `reason`), once it has written one (that satisfies `until`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(cp.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
        status = ((found.get("status") or {}).get("statuses") or {}).get(GLOO_NAMESPACE)
        if status and status.get("state") not in (None, "Pending"):
            state = {"state": status["state"], "reason": status.get("reason", "")}
            if until(state):
                return state
        assert time.monotonic() < deadline, f"Gloo wrote no status on {kind} {namespace}/{name}: {found.get('status')}"
        time.sleep(0.5)


def accepted(cp: ControlPlane, site: Site, namespace: str, routetable: str) -> None:
    """Gloo accepts the RouteTable and, with no warning, the VirtualService of `site` that delegates to it."""
    assert gloo_state(cp, "routetable", namespace, routetable)["state"] == "Accepted"
    parent = gloo_state(cp, "virtualservice", GLOO_NAMESPACE, f"vs-{site.group}"[:63],
                        until=lambda s: s["state"] == "Accepted" or "not found" not in s["reason"])
    assert parent == {"state": "Accepted", "reason": ""}, parent


def only(gw: Gateway, site: Site, path: str, label: str) -> None:
    """Once the gateway has taken the change, every request to `path` answers `label`."""
    wait_for(gw.url, site.host, path, {label})
    got = sample(gw.url, site.host, path, N)
    assert got == {label: N}, f"{path}: {dict(got)}"


def judged(cp: ControlPlane, rt: Obj) -> subprocess.CompletedProcess[str]:
    """The webhook's verdict on `rt` as a new RouteTable (a server dry run of a copy under another name: an
    unchanged object is not judged again)."""
    fresh = copy.deepcopy(rt)
    fresh["metadata"]["name"] += "-judged"
    return cp.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(fresh), check=False)


def get(cp: ControlPlane, kind: str, namespace: str, name: str) -> Obj:
    found: Obj = json.loads(cp.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return found


# ---- subsets ------------------------------------------------------------------------------------------


def test_a_pod_without_the_subset_key_is_reached_by_an_empty_value(
    control_plane: ControlPlane, gateway: Gateway, echo: Rollout, namespace: str, applied: Callable[[Obj], Obj],
    webhook_process: WebhookProcess,
) -> None:
    # A third Deployment of the same Service whose pods carry no `version` label at all.
    bare = get(control_plane, "deployment", namespace, "echo-v1")
    bare = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo-bare", "namespace": namespace},
            "spec": copy.deepcopy(bare["spec"])}
    for labels in (bare["spec"]["selector"]["matchLabels"], bare["spec"]["template"]["metadata"]["labels"]):
        labels.pop(names.VERSION_KEY)
    bare["spec"]["selector"]["matchLabels"]["bare"] = "yes"  # not the other Deployments' pods
    bare["spec"]["template"]["metadata"]["labels"]["bare"] = "yes"
    (container,) = bare["spec"]["template"]["spec"]["containers"]
    container["args"] = ["-text=version:echo-bare", f"-listen=:{names.CONTAINER_PORT}"]
    applied(bare)
    control_plane.kubectl("rollout", "status", "deployment/echo-bare", "-n", namespace, "--timeout=120s", timeout=150)

    site = own_site(applied, namespace, "bare")
    rt = applied(route_table(namespace, "bare", [route("/bare", {"single": to(namespace, "echo", {"version": ""})}),
                                                  route("/v1", {"single": to(namespace, "echo", {"version": "v1"})})],
                             site.group))
    # Exactly the pods without the label: not a fallback to every endpoint (which would mix in v1 and v2).
    only(gateway, site, "/bare", "version:echo-bare")
    only(gateway, site, "/v1", "version:echo-v1")
    accepted(control_plane, site, namespace, "bare")

    # The product's reading: "" serves the pods that lack the key, and only them.
    selector, subset = {"app": "echo"}, {"version": ""}
    assert labels_serve(pod_labels(bare), selector, subset)
    assert not labels_serve(pod_labels(get(control_plane, "deployment", namespace, "echo-v1")), selector, subset)
    # ...so the webhook admits that route (a version nobody serves would be refused, as a control).
    register(control_plane, webhook_process)
    admitted = judged(control_plane, rt)
    assert admitted.returncode == 0, admitted.stderr
    nobody = route_table(namespace, "bare", [route("/bare", {"single": to(namespace, "echo", {"version": "v9"})})],
                         site.group)
    refused = judged(control_plane, nobody)
    assert refused.returncode == 1 and "no Deployment" in refused.stderr, refused.stderr


def test_an_upstream_without_subset_spec_and_a_static_upstream_ignore_the_subset(
    control_plane: ControlPlane, gateway: Gateway, echo: Rollout, namespace: str, applied: Callable[[Obj], Obj],
    webhook_process: WebhookProcess,
) -> None:
    plugin_upstream = get(control_plane, "upstream", namespace, "echo")["spec"]["kube"]
    plain = {key: value for key, value in plugin_upstream.items() if key != "subsetSpec"}
    applied({"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": "echo-plain",
                                                                               "namespace": namespace},
             "spec": {"kube": plain}})
    v1_pod = echo.pods("v1")[0].removeprefix("pod/")
    pod_ip = get(control_plane, "pod", namespace, v1_pod)["status"]["podIP"]
    applied({"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": "echo-static",
                                                                               "namespace": namespace},
             "spec": {"static": {"hosts": [{"addr": pod_ip, "port": names.CONTAINER_PORT}]}}})
    site = own_site(applied, namespace, "nosubset")
    v2 = {"version": "v2"}
    rt = applied(route_table(namespace, "nosubset", [route("/plain", {"single": to(namespace, "echo-plain", v2)}),
                                                      route("/static", {"single": to(namespace, "echo-static", v2)})],
                             site.group))
    # The subset v2 is ignored: every version of the Service, and the static host (a v1 pod).
    wait_for(gateway.url, site.host, "/plain", {echo.version("v1"), echo.version("v2")})
    only(gateway, site, "/static", echo.version("v1"))
    # Gloo accepts the RouteTable and warns on the VirtualService that delegates to it, once per route (once
    # it has seen both Upstreams: until then it warns that they are not found).
    warning = "InvalidDestinationWarning. Reason: route has a subset config, but the upstream does not"
    parent = gloo_state(control_plane, "virtualservice", GLOO_NAMESPACE, f"vs-{site.group}"[:63],
                        until=lambda s: s["reason"].count(warning) == 2)
    assert parent["state"] == "Warning", parent
    assert gloo_state(control_plane, "routetable", namespace, "nosubset")["state"] == "Accepted"

    # The product says so: the webhook refuses both routes, naming that Gloo would ignore the subset.
    register(control_plane, webhook_process)
    refused = judged(control_plane, rt)
    assert refused.returncode == 1
    assert (f"Upstream {namespace}/echo-plain has no subsetSpec; Gloo would ignore the subset and use every "
            "version") in refused.stderr, refused.stderr
    assert (f"Upstream {namespace}/echo-static is not a kube Upstream and has no subsetSpec; Gloo would ignore "
            "the subset") in refused.stderr, refused.stderr


# ---- weights and matchers -----------------------------------------------------------------------------


def test_a_missing_weight_counts_as_zero_and_a_route_without_matchers_matches_every_path(
    control_plane: ControlPlane, gateway: Gateway, echo: Rollout, namespace: str, applied: Callable[[Obj], Obj],
) -> None:
    site = own_site(applied, namespace, "weights")
    weighted = {"multi": {"destinations": [
        {"destination": to(namespace, "echo", {"version": "v1"})},  # no weight
        {"destination": to(namespace, "echo", {"version": "v2"}), "weight": 1},
    ]}}
    catch_all = {"single": to(namespace, "echo", {"version": "v1"})}
    rt = applied(route_table(namespace, "weights", [route("/weighted", weighted), route(None, catch_all)],
                             site.group))
    only(gateway, site, "/weighted", echo.version("v2"))
    for path in ("/", "/anything/at/all", "/echo"):
        only(gateway, site, path, echo.version("v1"))
    accepted(control_plane, site, namespace, "weights")

    # The product's reading of the same RouteTable.
    (split,) = rtm.weighted_routes(rt)
    assert (split.weights, split.total) == ((None, 1), 1)
    assert [carries_traffic(d) for d in rtm.destinations(rt) if d.position is not None] == [False, True]
    assert [rtm.route_label(r) for r in rtm.routes(rt)] == ["/weighted", "/"]


# ---- delegation ---------------------------------------------------------------------------------------


def test_a_delegation_ref_without_a_namespace_delegates_to_nothing(
    control_plane: ControlPlane, gateway: Gateway, echo: Rollout, namespace: str, applied: Callable[[Obj], Obj],
) -> None:
    # Two RouteTables of the same name: one in the VirtualService's namespace (to v1), one in gloo-system
    # (to v2). The VirtualService, in the test's namespace, names it without a namespace: Gloo looks the ref
    # up as written (namespace ""), finds neither, warns and drops the route.
    name = f"delegated-{namespace}"[:63]
    here = applied(route_table(namespace, name, [route("/", version(namespace, "v1"))]))
    there = applied(route_table(GLOO_NAMESPACE, name, [route("/", version(namespace, "v2"))]))
    site = Site("", f"{namespace}-ref.e2e")
    # First the ref with its namespace: it reaches that RouteTable.
    vs = applied(virtual_service(namespace, "by-ref", site.host, {"ref": {"name": name, "namespace": namespace}}))
    # Gloo may judge the VirtualService before its watch has delivered the RouteTable just written (a
    # transient "route table ... missing", seen in CI); the verdict that counts is the one it settles on.
    first = gloo_state(control_plane, "virtualservice", namespace, "by-ref",
                       until=lambda s: s["state"] == "Accepted" or "missing" not in s["reason"])
    assert first == {"state": "Accepted", "reason": ""}, first
    only(gateway, site, "/x", echo.version("v1"))
    assert delegates_to(vs, here) and not delegates_to(vs, there)
    # Without it: neither RouteTable of that name, in the VirtualService's namespace or in gloo-system.
    del vs["spec"]["virtualHost"]["routes"][0]["delegateAction"]["ref"]["namespace"]
    applied(vs)
    state = gloo_state(control_plane, "virtualservice", namespace, "by-ref", until=lambda s: s["state"] != "Accepted")
    assert state["state"] == "Warning" and f"route table .{name} missing" in state["reason"], state
    only(gateway, site, "/x", "HTTP 404: ")
    assert not delegates_to(vs, here) and not delegates_to(vs, there)


def test_a_delegation_selector_without_namespaces_selects_in_the_virtual_services_own(
    control_plane: ControlPlane, gateway: Gateway, echo: Rollout, namespace: str, applied: Callable[[Obj], Obj],
    new_namespace: Callable[[str], str],
) -> None:
    group, other = f"{namespace}-sel"[-63:].lstrip("-"), new_namespace("other")
    here = applied(route_table(namespace, "here", [route("/here", version(namespace, "v1"))], group))
    there = applied(route_table(other, "there", [route("/there", version(namespace, "v2"))], group))
    site = Site(group, f"{group}.e2e")
    vs = applied(virtual_service(namespace, "by-selector", site.host, {"selector": {"labels": {"apiGroup": group}}}))
    gloo_state(control_plane, "virtualservice", namespace, "by-selector")
    only(gateway, site, "/here", echo.version("v1"))
    only(gateway, site, "/there", "HTTP 404: ")
    assert delegates_to(vs, here) and not delegates_to(vs, there)
    # The control: with every namespace selected, the other namespace's RouteTable is routed.
    vs["spec"]["virtualHost"]["routes"][0]["delegateAction"]["selector"]["namespaces"] = ["*"]
    applied(vs)
    only(gateway, site, "/there", echo.version("v2"))
    assert delegates_to(vs, there)
