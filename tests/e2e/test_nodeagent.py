"""The kubelet's part, as the node agent plays it: a Deployment's pod (made by the real
kube-controller-manager) is bound, runs the `hashicorp/http-echo` stand-in with its own command line on
its own address, is Ready only once it serves, is an endpoint of its Service, and on deletion stops
serving and is removed; a pod with an image that cannot run here says so in its status and an event.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from kubectl_canary.core import objects
from kubectl_canary.core.objects import Workload

from .controlplane import ControlPlane


def _pods(cp: ControlPlane, ns: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(cp.kubectl("get", "pods", "-n", ns, "-l", selector, "-o",
                                                        "json").stdout)["items"]
    return items


def _until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def test_a_deployments_pod_really_serves_on_its_own_address(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        objects.deployment("echo", namespace, "v1", Workload(), "primary"), objects.service("echo", namespace)]}))
    pod = _until("a Ready pod", lambda: [p for p in _pods(cp, namespace, "app=echo") if _ready(p)])[0]
    ip = pod["status"]["podIP"]
    assert ip.startswith("10.244.0.") and pod["spec"]["nodeName"] == "canary-e2e-node"
    with urllib.request.urlopen(f"http://{ip}:8080/anything", timeout=5) as resp:
        assert resp.read() == b"version:echo-v1\n"
    slices = json.loads(cp.kubectl("get", "endpointslices", "-n", namespace, "-l",
                                   "kubernetes.io/service-name=echo", "-o", "json").stdout)["items"]
    assert [e["addresses"] for s in slices for e in s.get("endpoints") or []] == [[ip]]

    cp.kubectl("delete", "deployment", "echo-v1", "-n", namespace)
    _until("the pod removed", lambda: not _pods(cp, namespace, "app=echo"))
    try:
        urllib.request.urlopen(f"http://{ip}:8080/", timeout=2)
        raise AssertionError(f"{ip}:8080 still answers after its pod was deleted")
    except OSError:
        pass


def test_a_pod_whose_image_cannot_run_here_says_why(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl("apply", "-f", "-", input=json.dumps(
        objects.deployment("web", namespace, "v1", Workload(image="nginx:1.27"), "primary")))
    pod = _until("a status saying why", lambda: [p for p in _pods(cp, namespace, "app=web")
                                                  if p["status"].get("containerStatuses")])[0]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert pod["status"]["phase"] == "Pending" and waiting["reason"] == "ErrImagePull"
    assert "image 'nginx:1.27' cannot run on this test node: only hashicorp/http-echo runs here" in waiting["message"]
    events = cp.kubectl("get", "events", "-n", namespace, "--field-selector",
                        f"involvedObject.name={pod['metadata']['name']}", "-o", "json").stdout
    assert any(e["type"] == "Warning" and "only hashicorp/http-echo runs here" in e["message"]
               for e in json.loads(events)["items"])
