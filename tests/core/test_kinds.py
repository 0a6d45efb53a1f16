"""Kinds, object references and `manifest()`: how objects are named and stripped of server fields."""

from __future__ import annotations

import pytest

from kubectl_canary.core import kinds
from kubectl_canary.core.kinds import ObjectRef


@pytest.mark.parametrize(
    ("kind", "group", "version"),
    [(kinds.DEPLOYMENT, "apps", "v1"), (kinds.SERVICE, "", "v1"), (kinds.ROUTETABLE, "gateway.solo.io", "v1"),
     (kinds.UPSTREAM, "gloo.solo.io", "v1"), (kinds.CANARY_POLICY, "policy.kubectl-canary.io", "v1alpha1")],
)
def test_kind_group_and_version(kind, group, version):
    assert (kind.group, kind.version) == (group, version)


@pytest.mark.parametrize(("name", "expected"), [("RouteTable", kinds.ROUTETABLE), ("Namespace", kinds.NAMESPACE),
                                                ("ConfigMap", None)])
def test_kind_named(name, expected):
    assert kinds.kind_named(name) == expected


@pytest.mark.parametrize(
    ("obj", "text"),
    [
        ({"kind": "RouteTable", "metadata": {"namespace": "echo", "name": "echo-routes"}},
         "RouteTable echo/echo-routes"),
        ({"kind": "Namespace", "metadata": {"name": "echo"}}, "Namespace echo"),
        ({}, " "),
    ],
)
def test_object_ref_of_and_str(obj, text):
    assert str(ObjectRef.of(obj)) == text


def test_labels_and_annotations_default_to_empty():
    assert kinds.labels_of({}) == {} and kinds.annotations_of({"metadata": {"annotations": None}}) == {}
    assert kinds.labels_of({"metadata": {"labels": {"a": "b"}}}) == {"a": "b"}


def test_manifest_strips_status_and_server_fields_without_touching_the_input():
    live = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "echo", "uid": "u", "resourceVersion": "7", "generation": 2, "managedFields": [],
                     "creationTimestamp": "t",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"ports": []}, "status": {"loadBalancer": {}},
    }
    assert kinds.manifest(live) == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
                                    "spec": {"ports": []}}
    assert "status" in live and "uid" in live["metadata"]


@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": "x"},
        {"metadata": ["x"]},
        {"metadata": {"labels": ["x"], "annotations": ["x"]}},
        {"metadata": {"labels": "x", "annotations": 7}},
        {"metadata": None},
    ],
)
def test_wrongly_typed_labels_and_annotations_count_as_absent(obj):
    assert kinds.labels_of(obj) == {} and kinds.annotations_of(obj) == {}
