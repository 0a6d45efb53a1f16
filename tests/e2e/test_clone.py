"""Clone fidelity on a real kube-apiserver (issue 18): a primary with every field a real service has,
applied with kubectl; `start` writes a canary whose pod template, as the API server stores it (defaults
and all), equals the primary's but for the version label and the images given; its metadata keeps the
team's label and annotation and none of the server's fields or another tool's ownership markers."""

from __future__ import annotations

import copy
import json

from core.test_clone import PRIMARY

from kubectl_canary.core import names, objects
from kubectl_canary.core.routes import RouteState

NOT_COPIED_PREFIXES = ("meta.helm.sh/", "helm.sh/", "argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/",
                       "helm.toolkit.fluxcd.io/", "fluxcd.io/", "kapp.k14s.io/")


def _primary(namespace: str) -> dict:
    """PRIMARY as a user applies it: without what the server or other controllers own."""
    primary = copy.deepcopy(PRIMARY)
    meta = primary["metadata"]
    for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields",
                  "ownerReferences", "finalizers"):
        meta.pop(field)
    meta["namespace"] = namespace
    meta["annotations"].pop("kubectl.kubernetes.io/last-applied-configuration")  # kubectl apply writes its own
    primary.pop("status")
    primary["spec"].pop("paused")
    return primary


def _get(kubectl, namespace: str, name: str) -> dict:
    return json.loads(kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout)


def test_the_canary_is_its_primarys_copy_as_the_api_server_stores_both(kubectl, kubectl_canary, namespace):
    rt = objects.routetable("shop", namespace, RouteState("v1"), "example")
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        objects.service("shop", namespace, 9898), objects.upstream("shop", namespace), rt, _primary(namespace)]}))
    # The primary carries a Helm release's markers (that is what is tested: they are not copied), so the
    # plugin would go through the release; --force-conflicts writes the objects directly.
    kubectl_canary("start", "shop", "--version", "v2", "-n", namespace, "--timeout", "0", "--force-conflicts",
                   "--image", "ghcr.io/stefanprodan/podinfo:6.9.3", "--image", "log-shipper=fluent/fluent-bit:3.2")
    primary, canary = _get(kubectl, namespace, "shop-v1"), _get(kubectl, namespace, "shop-v2")

    expected = copy.deepcopy(primary["spec"]["template"])
    expected["metadata"]["labels"]["version"] = "v2"
    images = {"shop": "ghcr.io/stefanprodan/podinfo:6.9.3", "log-shipper": "fluent/fluent-bit:3.2"}
    for container in expected["spec"]["containers"]:
        container["image"] = images[container["name"]]
    assert canary["spec"]["template"] == expected
    for field in ("strategy", "minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit", "replicas"):
        assert canary["spec"][field] == primary["spec"][field], field
    assert canary["spec"]["selector"] == {"matchLabels": {"app": "shop", "version": "v2"}}

    labels, annotations = canary["metadata"]["labels"], canary["metadata"]["annotations"]
    assert labels["team"] == "payments" and labels[names.MANAGED_BY] == names.MANAGER
    assert annotations["owner"] == "payments@example.com" and annotations[names.ROLE] == "canary"
    assert "app.kubernetes.io/instance" not in labels
    for key in (*labels, *annotations):
        assert not key.startswith(NOT_COPIED_PREFIXES), key
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert canary["metadata"]["uid"] != primary["metadata"]["uid"]
    assert "ownerReferences" not in canary["metadata"]
