"""Snapshots: which of the objects read belong to the service, and its Deployments by version."""

from __future__ import annotations

import pytest
from conftest import seed_objects, service_objects

from kubectl_canary.core import names, objects
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.routes import RouteState
from kubectl_canary.core.snapshot import deployment_version, snapshot_of


def test_snapshot_picks_the_service_objects_out_of_a_namespace():
    other = service_objects(RouteState("v7"), {"v7": "primary"}, service="foxtrot")
    elsewhere = service_objects(RouteState("v9"), {"v9": "primary"}, namespace="prod")
    mine = service_objects(RouteState("v1", "v2"), {"v1": "primary", "v2": "canary"})
    snap = snapshot_of("echo", "echo", other + elsewhere + mine)
    assert snap.routetable is mine[2]
    assert list(snap.deployments) == ["v1", "v2"]
    assert (snap.role("v1"), snap.role("v2"), snap.role("v3")) == ("primary", "canary", None)
    assert snap.api_group == "example" and snap.where == "echo/echo"


def test_snapshot_of_the_seed_chart_objects_has_no_roles():
    snap = snapshot_of("echo", "echo", seed_objects(3))
    assert list(snap.deployments) == ["v1", "v2"] and snap.role("v1") is None


# SPEC 2: without --api-group the plugin leaves the label off and the webhook injects it, so a
# Namespace's group label is never copied by the plugin (a policy's group may differ from it).
@pytest.mark.parametrize(
    ("rt_group", "ns_labels", "expected"),
    [("example", {names.NAMESPACE_API_GROUP: "other"}, "example"),
     (None, {names.NAMESPACE_API_GROUP: "team-a"}, None), (None, {}, None)],
)
def test_api_group_comes_from_the_routetable_only(rt_group, ns_labels, expected):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echo", "labels": ns_labels}}
    rt = objects.routetable("echo", "echo", RouteState("v1"), rt_group)
    assert snapshot_of("echo", "echo", [rt, namespace]).api_group == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [({"app": "echo", "version": "v3"}, "v3"), ({"app": "other", "version": "v3"}, None), ({"app": "echo"}, None),
     ({"app": "echo", "tier": "web", "version": "v3"}, "v3")],
)
def test_deployment_version_is_read_from_the_pod_labels_the_service_selects(labels, expected):
    # A Deployment's version is its pods' (SPEC 1): an adopted Deployment's selector need not name it.
    deployment = {"spec": {"selector": {"matchLabels": {"app": "echo"}},
                           "template": {"metadata": {"labels": labels}}}}
    assert deployment_version(deployment, {"app": "echo"}) == expected


def test_the_deployment_named_s_v_wins_over_another_with_the_same_version():
    ours = objects.deployment("echo", "echo", "v1", Workload(), "primary")
    stray = objects.deployment("echo", "echo", "v1", Workload(), "primary")
    stray["metadata"]["name"] = "echo-copy"
    assert snapshot_of("echo", "echo", [ours, stray]).deployment("v1") is ours
    assert snapshot_of("echo", "echo", [stray]).deployment("v1") is stray
