"""Planning `adopt`: a service deployed the ordinary way is labelled, then routed by version, step by step;
re-running completes a half-done adoption; what cannot be adopted is refused naming the object and the fix."""

from __future__ import annotations

import copy

import pytest

from kubectl_canary.core import names
from kubectl_canary.core.adopt import plan_adopt, rollout_pending
from kubectl_canary.core.errors import NotFound, StateConflict, UsageError
from kubectl_canary.core.kinds import ObjectRef
from kubectl_canary.core.routes import RouteState, recognise
from kubectl_canary.core.snapshot import snapshot_of


def service():
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"selector": {"app.kubernetes.io/name": "shop"}, "ports": [{"port": 80, "targetPort": 9898}]}}


def deployment(name="shop", version=None, rv="7"):
    labels = {"app.kubernetes.io/name": "shop", **({"version": version} if version else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": rv, "uid": "u-1",
                         "labels": {"team": "shop"}, "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "shop"}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "podinfo", "image": "podinfo:6.9.2"}]}}}}


def upstream(subsets=False, namespace="shop", name="shop"):
    kube = {"serviceName": "shop", "serviceNamespace": "shop", "servicePort": 80}
    if subsets:
        kube["subsetSpec"] = {"selectors": [{"keys": ["version"]}]}
    return {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": name, "namespace": namespace},
            "spec": {"kube": kube}}


def routetable(upstream_name="shop", upstream_ns="shop", version=None):
    dest = {"upstream": {"name": upstream_name, "namespace": upstream_ns}}
    if version:
        dest["subset"] = {"values": {"version": version}}
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "storefront", "namespace": "shop", "resourceVersion": "41",
                         "labels": {"apiGroup": "example"}},
            "spec": {"routes": [
                {"matchers": [{"prefix": "/shop/admin"}], "routeAction": {"single": {"upstream": {"name": "admin"}}}},
                {"matchers": [{"prefix": "/shop"}], "routeAction": {"single": dest}, "options": {"timeout": "5s"}},
            ]}}


def snap(*objs):
    return snapshot_of("shop", "shop", objs)


def kinds(plan):
    return [(o["kind"], o["metadata"]["name"]) for o in plan.writes]


def test_first_step_labels_the_deployment_and_adds_the_subset_then_waits():
    adoption = plan_adopt(snap(service(), deployment(), upstream(), routetable()), "v1")
    assert kinds(adoption.plan) == [("Deployment", "shop"), ("Upstream", "shop")]
    labelled, up = adoption.plan.writes
    assert labelled["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": "shop", "version": "v1"}
    assert labelled["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "shop"}}  # immutable: kept
    assert labelled["metadata"]["resourceVersion"] == "7" and "uid" not in labelled["metadata"]
    assert labelled["metadata"]["annotations"] == {names.ROLE: "primary"}
    assert up["spec"]["kube"]["subsetSpec"] == {"selectors": [{"keys": ["version"]}]}
    assert adoption.waits_for == ObjectRef("Deployment", "shop", "shop")
    assert any("a canary's pods carry too" in m for m in adoption.plan.messages)


def test_while_the_rollout_runs_nothing_moves():
    adoption = plan_adopt(snap(service(), deployment(version="v1"), upstream(True), routetable()), "v1",
                          rollout="1 of 2 ready pods lack version=v1")
    assert adoption.waits_for is not None
    assert kinds(adoption.plan) == [("Deployment", "shop")]  # the role, once; the template is labelled already


def test_once_rolled_out_the_routes_move_and_every_other_route_stays():
    labelled = deployment(version="v1")
    labelled["metadata"]["annotations"][names.ROLE] = "primary"
    adoption = plan_adopt(snap(service(), labelled, upstream(True), routetable()), "v1")
    assert adoption.waits_for is None and kinds(adoption.plan) == [("RouteTable", "storefront")]
    rt = adoption.plan.writes[0]
    before = routetable()["spec"]["routes"]
    assert rt["spec"]["routes"][0] == before[0]
    assert rt["spec"]["routes"][1] == {**before[1], "routeAction": {"single": {
        "upstream": {"name": "shop", "namespace": "shop"}, "subset": {"values": {"version": "v1"}}}}}
    assert rt["metadata"]["resourceVersion"] == "41" and rt["metadata"]["labels"] == {"apiGroup": "example"}
    assert rt["metadata"]["annotations"][names.PHASE] == "stable"
    adopted = snapshot_of("shop", "shop", [service(), labelled, upstream(True), {**routetable(), **rt}])
    assert recognise(adopted.routetable, "shop", adopted.upstream).state == RouteState("v1")
    again = plan_adopt(adopted, "v1")  # idempotent: the same routes again, nothing to wait for
    assert again.waits_for is None and again.plan.writes[0]["spec"] == rt["spec"]


def test_an_upstream_that_gloo_discovery_wrote_in_its_own_namespace_is_used():
    discovered = upstream(True, "gloo-system", "shop-shop-80")
    labelled = deployment(version="v1")
    labelled["metadata"]["annotations"][names.ROLE] = "primary"
    adoption = plan_adopt(snap(service(), labelled, discovered, routetable("shop-shop-80", "gloo-system")), "v1")
    dest = adoption.plan.writes[0]["spec"]["routes"][1]["routeAction"]["single"]
    assert dest["upstream"] == {"name": "shop-shop-80", "namespace": "gloo-system"}


@pytest.mark.parametrize(
    ("objs", "kwargs", "error", "message"),
    [
        ((deployment(), upstream(), routetable()), {}, NotFound, "Service shop/shop not found"),
        ((service(), deployment(), routetable()), {}, NotFound, "no Gloo Upstream sends to Service shop/shop"),
        ((service(), deployment(), upstream()), {}, NotFound, "no RouteTable in namespace shop routes to Upstream"),
        ((service(), upstream(), routetable()), {}, NotFound, "no Deployment in namespace shop runs pods"),
        ((service(), deployment(), deployment("shop-blue"), upstream(), routetable()), {}, UsageError,
         "several Deployments run pods that Service shop/shop selects (shop, shop-blue)"),
        ((service(), deployment(), upstream(), routetable()), {"deployment": "nope"}, NotFound,
         "Deployment shop/nope (--deployment)"),
        ((service(), deployment(version="v0"), upstream(), routetable()), {}, NotFound, "no Deployment"),
        ((service(), deployment(version="v0"), upstream(), routetable()), {"deployment": "shop"}, StateConflict,
         "runs version v0, not v1; adopt it with --version v0"),
        ((service(), deployment(version="v1"), upstream(True), routetable(version="v0")), {}, StateConflict,
         "managed already (primary v0)"),
    ],
)
def test_what_cannot_be_adopted_is_refused_saying_what_to_do(objs, kwargs, error, message):
    with pytest.raises(error) as err:
        plan_adopt(snap(*objs), "v1", **kwargs)
    assert message in str(err.value)


def test_a_virtualservice_that_routes_to_the_upstream_itself_is_told_how_to_delegate():
    vs = {"kind": "VirtualService", "metadata": {"name": "shop-vs", "namespace": "gloo-system"}, "spec": {
        "virtualHost": {"routes": [{"routeAction": {"single": {"upstream": {"name": "shop", "namespace": "shop"}}}}]}}}
    with pytest.raises(NotFound, match=r"VirtualService gloo-system/shop-vs routes to Upstream shop/shop itself.*"
                                       r"delegateAction"):
        plan_adopt(snap(service(), deployment(), upstream()), "v1", virtualservices=[vs])


def _pod(version, ready=True, terminating=False):
    labels = {"app.kubernetes.io/name": "shop", **({"version": version} if version else {})}
    meta = {"name": f"p-{version}", "labels": labels, **({"deletionTimestamp": "t"} if terminating else {})}
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


DONE = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}


@pytest.mark.parametrize(
    ("status", "pods", "pending"),
    [
        (DONE, [_pod("v1"), _pod("v1")], None),
        (DONE, [_pod("v1"), _pod(None, terminating=True)], None),  # leaving: no endpoint any more
        ({**DONE, "observedGeneration": 1}, [_pod("v1")], "has not seen the change yet"),
        ({**DONE, "updatedReplicas": 1}, [_pod("v1")], "1 of 2 pods updated"),
        ({**DONE, "replicas": 3}, [_pod("v1")], "3 in all"),
        (DONE, [_pod("v1"), _pod(None)], "1 of 2 ready pods lack version=v1"),
        (DONE, [_pod("v1", ready=False)], "0 of 0 ready pods"),
    ],
)
def test_the_rollout_is_done_only_when_every_ready_pod_carries_the_version(status, pods, pending):
    dep = copy.deepcopy(deployment(version="v1"))
    dep["metadata"]["generation"] = 2
    dep["status"] = status
    found = rollout_pending(dep, pods, {"app.kubernetes.io/name": "shop"}, "v1")
    assert (found is None) if pending is None else (pending in found)
