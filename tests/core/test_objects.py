"""The object builders: the seed chart's fields, plus the managed-by label and the state annotations."""

from __future__ import annotations

import pytest

from kubectl_canary.core import names, objects
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.routes import RouteState

MANAGED = {names.MANAGED_BY: names.MANAGER}


@pytest.mark.parametrize(
    ("image", "args"),
    [
        ("hashicorp/http-echo", ("-text=version:echo-v2", "-listen=:8080")),
        ("hashicorp/http-echo:1.0", ("-text=version:echo-v2", "-listen=:8080")),
        ("hashicorp/http-echo@sha256:abc", ("-text=version:echo-v2", "-listen=:8080")),
        ("nginx:1.27", ()),
    ],
)
def test_default_args_only_for_http_echo(image, args):
    assert objects.default_args("echo", "v2", image, 8080) == args


def test_deployment_is_the_seed_chart_deployment():
    dep = objects.deployment("echo", "echo", "v1", Workload(), "primary")
    assert dep["metadata"] == {"name": "echo-v1", "namespace": "echo", "labels": MANAGED,
                               "annotations": {names.ROLE: "primary"}}
    assert dep["spec"] == {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "echo", "version": "v1"}},
        "template": {"metadata": {"labels": {"app": "echo", "version": "v1"}},
                     "spec": {"containers": [{"image": "hashicorp/http-echo",
                                              "args": ["-text=version:echo-v1", "-listen=:8080"],
                                              "imagePullPolicy": "Always", "name": "echo-v1",
                                              "ports": [{"containerPort": 8080}]}]}},
    }


@pytest.mark.parametrize(
    ("workload", "container_args"),
    [(Workload(image="nginx"), None), (Workload(image="nginx", args=("-x",)), ["-x"]),
     (Workload(args=()), None), (Workload(port=9090), ["-text=version:echo-v1", "-listen=:9090"])],
)
def test_deployment_args(workload, container_args):
    deployment = objects.deployment("echo", "echo", "v1", workload, "canary")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container.get("args") == container_args


def test_service_and_upstream():
    assert objects.service("echo", "echo")["spec"] == {
        "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": "echo"}}
    assert objects.upstream("echo", "echo")["spec"] == {"kube": {
        "selector": {"app": "echo"}, "serviceName": "echo", "serviceNamespace": "echo", "servicePort": 80,
        "subsetSpec": {"selectors": [{"keys": ["version"]}]}}}
    assert objects.service("echo", "echo")["metadata"]["labels"] == MANAGED


@pytest.mark.parametrize(
    ("state", "annotations"),
    [
        (RouteState("v1"), {names.PHASE: "stable", names.PRIMARY: "v1"}),
        (RouteState("v1", "v2"), {names.PHASE: "header", names.PRIMARY: "v1", names.CANARY: "v2",
                                           names.WEIGHT: "0"}),
        (RouteState("v1", "v2", 40), {names.PHASE: "weighted", names.PRIMARY: "v1", names.CANARY: "v2",
                                               names.WEIGHT: "40"}),
    ],
)
def test_state_annotations(state, annotations):
    expected = {names.SERVICE_ANNOTATION: "echo", **annotations}
    assert objects.state_annotations("echo", state) == expected
    assert objects.routetable("echo", "echo", state, None)["metadata"]["annotations"] == expected


@pytest.mark.parametrize(("api_group", "labels"), [(None, MANAGED), ("", MANAGED),
                                                    ("example", {**MANAGED, "apiGroup": "example"})])
def test_routetable_api_group_label_is_left_off_without_one(api_group, labels):
    rt = objects.routetable("echo", "echo", RouteState("v1"), api_group)
    assert rt["metadata"]["labels"] == labels and rt["metadata"]["name"] == "echo-routes"
