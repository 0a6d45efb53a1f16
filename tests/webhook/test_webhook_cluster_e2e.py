"""The webhook registered with a real kube-apiserver (the e2e control plane), answering from its watch caches.

`canary-webhook serve --kubeconfig` runs on loopback; Mutating and Validating webhook configurations
point the API server at it by URL with the generated CA as caBundle. kubectl then sees what users
would: RouteTables mutated (weights, apiGroup) with warnings, denials with every problem, a
Deployment that is still routed to refused deletion, and an Upstream and Deployment created a moment
before the RouteTable that routes to them found by asking the API server again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from whserver import Running, serve, session
from whsupport import deployment, dest, multi, routetable, single, upstream

pytestmark = pytest.mark.e2e

tools = pytest.importorskip("tests.e2e.tools")
controlplane = pytest.importorskip("tests.e2e.controlplane")

NS = "shop"


def webhook_configurations(url: str, ca: bytes) -> list[dict[str, Any]]:
    common = {"sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10,
              "matchPolicy": "Equivalent"}
    bundle = base64.b64encode(ca).decode()

    def rules(group: str, resource: str, operations: list[str]) -> list[dict[str, Any]]:
        return [{"apiGroups": [group], "apiVersions": ["v1"], "resources": [resource], "operations": operations,
                 "scope": "Namespaced"}]

    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "kubectl-canary"},
         "webhooks": [{"name": "routetables.mutate.kubectl-canary.io", **common, "failurePolicy": "Fail",
                       "reinvocationPolicy": "IfNeeded",
                       "clientConfig": {"url": f"{url}/mutate", "caBundle": bundle},
                       "rules": rules("gateway.solo.io", "routetables", ["CREATE", "UPDATE"])}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "kubectl-canary"},
         "webhooks": [
             {"name": "routetables.validate.kubectl-canary.io", **common, "failurePolicy": "Fail",
              "clientConfig": {"url": f"{url}/validate", "caBundle": bundle},
              "rules": rules("gateway.solo.io", "routetables", ["CREATE", "UPDATE"])},
             {"name": "deployments.validate.kubectl-canary.io", **common, "failurePolicy": "Ignore",
              "clientConfig": {"url": f"{url}/validate", "caBundle": bundle},
              "rules": rules("apps", "deployments", ["DELETE"])},
         ]},
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Running]]:
    if tools.missing():
        pytest.skip(f"control plane tools not built (make tools): {tools.missing()}")
    base = tmp_path_factory.mktemp("cluster-e2e")
    with controlplane.ControlPlane() as cp:
        cp.install_crds([tools.gloo_crds_dir()])
        cp.kubectl("create", "namespace", NS)
        cp.kubectl("label", "namespace", NS, "kubectl-canary.io/api-group=shop-group")
        objects = [upstream("echo", NS), deployment("v1", NS), deployment("v2", NS)]
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
        from webhook import certs

        ca = certs.issue(base / "tls", ["localhost"], ["127.0.0.1"], days=1)
        with serve(["--cert-dir", str(base / "tls"), "--kubeconfig", str(cp.kubeconfig)], base / "server.log",
                   base / "tls" / certs.CA_FILE) as running:
            with session(base / "tls" / certs.CA_FILE) as client:
                _wait_ready(client, running)
            cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(webhook_configurations(running.url, ca)))
            yield cp, running


def _wait_ready(client: Any, running: Running) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get(f"{running.url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"caches never synced:\n{running.log_text()}")


def apply(cp: Any, obj: dict[str, Any], *flags: str) -> Any:
    return cp.kubectl("apply", "-f", "-", *flags, input=yaml.safe_dump(obj), check=False)


def get(cp: Any, kind: str, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("get", kind, name, "-n", NS, "-o", "json").stdout)


def test_a_routetable_is_mutated_with_warnings_the_user_sees(cluster):
    cp, _ = cluster
    rt = routetable([single(dest("v2", namespace=NS), headers=[("stage", "canary")]),
                     multi([(dest("v1", namespace=NS), 1), (dest("v2", namespace=NS), 3)])],
                    name="mutated", namespace=NS)
    done = apply(cp, rt)
    assert done.returncode == 0, done.stderr
    assert "Warning: label apiGroup=shop-group added (from Namespace shop)" in done.stderr
    assert "Warning: route /echo: weights 1,3 normalised to 25,75" in done.stderr
    stored = get(cp, "routetable", "mutated")
    assert stored["metadata"]["labels"] == {"apiGroup": "shop-group"}
    assert [d["weight"] for d in stored["spec"]["routes"][1]["routeAction"]["multi"]["destinations"]] == [25, 75]


def test_a_routetable_to_a_version_nobody_serves_is_denied_with_what_exists(cluster):
    cp, _ = cluster
    done = apply(cp, routetable([single(dest("v3", namespace=NS))], name="denied", namespace=NS))
    assert done.returncode != 0
    assert ('admission webhook "routetables.validate.kubectl-canary.io" denied the request: route /echo -> '
            "shop/echo subset version=v3: no Deployment in namespace shop serves it; found v1, v2") in done.stderr
    server_dry_run = apply(cp, routetable([single(dest("v3", namespace=NS))], name="denied", namespace=NS),
                           "--dry-run=server")
    assert server_dry_run.returncode != 0 and "found v1, v2" in server_dry_run.stderr


def test_objects_created_a_moment_before_the_routetable_are_found(cluster):
    cp, _ = cluster
    fresh = [upstream("fresh", NS), deployment("v1", NS, app="fresh")]
    rt = routetable([single(dest("v1", name="fresh", namespace=NS))], name="fresh", namespace=NS)
    done = cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*fresh, rt]), check=False)
    assert done.returncode == 0, done.stderr


def test_the_last_deployment_still_routed_to_cannot_be_deleted(cluster):
    cp, _ = cluster
    service = [upstream("keep", NS), deployment("v1", NS, app="keep"), deployment("v2", NS, app="keep")]
    rt = routetable([multi([(dest("v1", name="keep", namespace=NS), 100), (dest("v2", name="keep", namespace=NS), 0)])],
                    name="protects", namespace=NS)
    done = cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*service, rt]), check=False)
    assert done.returncode == 0, done.stderr
    denied = cp.kubectl("delete", "deployment", "keep-v1", "-n", NS, check=False)
    assert denied.returncode != 0
    assert ('admission webhook "deployments.validate.kubectl-canary.io" denied the request: Deployment shop/keep-v1 '
            "is the last one serving RouteTable shop/protects route /echo -> shop/keep subset version=v1") \
        in denied.stderr
    # v2 has weight 0 and no header route: it may go, with a warning
    allowed = cp.kubectl("delete", "deployment", "keep-v2", "-n", NS, "--dry-run=server", check=False)
    assert allowed.returncode == 0, allowed.stderr
    assert ("Warning: RouteTable shop/protects route /echo -> shop/keep subset version=v2 keeps weight 0 for "
            "Deployment keep-v2") in allowed.stderr
    assert get(cp, "deployment", "keep-v2")["metadata"]["name"] == "keep-v2"


def eventually(check: Any, timeout: float = 30) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_watch_caches_follow_the_cluster_and_pick_up_a_crd_installed_later(cluster):
    from webhook.cache import InformerLookup, api_client

    cp, _ = cluster
    crd = Path(__file__).resolve().parents[2] / "deploy" / "base" / "crd-canarypolicy.yaml"
    if not crd.exists():
        pytest.skip("deploy/base/crd-canarypolicy.yaml not present")
    lookup = InformerLookup(api_client(str(cp.kubeconfig)), absent_retry=0.2)
    lookup.start()
    try:
        assert lookup.wait_ready(30) and lookup.ready()
        assert lookup.policies() == [] and lookup.policies_cache.absent
        assert lookup.upstream(NS, "echo") is not None and lookup.namespace(NS) is not None
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment("v7", NS, app="cached")))
        eventually(lambda: [d for d in lookup.deployments(NS) if d["metadata"]["name"] == "cached-v7"])
        cp.install_crds([crd])
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(
            {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
             "metadata": {"name": "everyone"}, "spec": {}}))
        found = eventually(lookup.policies)
        assert [p["metadata"]["name"] for p in found] == ["everyone"] and not lookup.policies_cache.absent
    finally:
        lookup.stop()


def test_the_webhook_logged_each_request_as_json(cluster):
    _, running = cluster
    lines = [json.loads(line) for line in running.log_text().splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("logger") == "canary_webhook.requests"]
    assert {entry["endpoint"] for entry in requests} >= {"mutate", "validate"}
    assert all(entry["uid"] for entry in requests)
    assert Path(running.log).exists()
