"""The kubelet's part, as the node agent plays it: a Deployment's pod (made by the real
kube-controller-manager) is bound, runs the `hashicorp/http-echo` stand-in with its own command line on
its own address, is Ready only once it serves, is an endpoint of its Service, and on deletion stops
serving and is removed; a pod with an image that cannot run here says so in its status and an event.

With podinfo, a real application: its config from a Secret and a ConfigMap (env, envFrom, fieldRef,
`$(VAR)`, a ConfigMap volume that follows the ConfigMap), a sidecar sharing the pod's address, several
pods on the same port; a missing Secret holds the container in CreateContainerConfigError until it
exists; readiness follows podinfo's /readyz; a failing liveness probe restarts the container.
"""

from __future__ import annotations

import json
import pathlib
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from kubectl_canary.core import objects
from kubectl_canary.core.objects import Workload

from . import podinfo
from .controlplane import ControlPlane

# podinfo's own manifests probe with podcli on localhost, inside the pod (its network namespace).
PODCLI_PROBE = {"exec": {"command": ["podcli", "check", "http", "localhost:9898/healthz"]}, "periodSeconds": 1,
                "timeoutSeconds": 2, "failureThreshold": 2}


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
    with pytest.raises(urllib.error.URLError) as gone:
        urllib.request.urlopen(f"http://{ip}:8080/", timeout=2)
    # Not an HTTP answer (HTTPError is a URLError too): nothing is there to answer at all.
    assert not isinstance(gone.value, urllib.error.HTTPError), f"{ip}:8080 still answers: {gone.value}"


def test_a_pod_whose_image_cannot_run_here_says_why(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl("apply", "-f", "-", input=json.dumps(
        objects.deployment("web", namespace, "v1", Workload(image="nginx:1.27"), "primary")))
    pod = _until("a status saying why", lambda: [p for p in _pods(cp, namespace, "app=web")
                                                  if p["status"].get("containerStatuses")])[0]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert pod["status"]["phase"] == "Pending" and waiting["reason"] == "ErrImagePull"
    runnable = ("only ghcr.io/stefanprodan/podinfo and hashicorp/http-echo and quay.io/solo-io/gloo-envoy-wrapper "
                "run here")
    assert f"image 'nginx:1.27' cannot run on this test node: {runnable}" in waiting["message"]
    assert any(e["type"] == "Warning" and runnable in e["message"] for e in _events(cp, namespace, pod))


# ---- podinfo ---------------------------------------------------------------------------------------


def _events(cp: ControlPlane, ns: str, pod: dict[str, Any]) -> list[dict[str, Any]]:
    out = cp.kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod['metadata']['name']}",
                     "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def _apply(cp: ControlPlane, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def _secret(ns: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": data}


def _configmap(ns: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def _ref(var: str, kind: str, name: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {kind: {"name": name, "key": key}}}


def _status(pod: dict[str, Any], container: str) -> dict[str, Any]:
    status: dict[str, Any] = next(c for c in pod["status"].get("containerStatuses") or [] if c["name"] == container)
    return status


def _container_status(cp: ControlPlane, ns: str, selector: str, container: str, check: Any) -> dict[str, Any]:
    """The first pod whose status of `container` passes `check`."""
    def found() -> list[dict[str, Any]]:
        return [p for p in _pods(cp, ns, selector)
                if any(c["name"] == container and check(c) for c in p["status"].get("containerStatuses") or [])]
    pod: dict[str, Any] = _until(f"{container} of {selector}", found)[0]
    return pod


def test_podinfo_runs_with_its_config_from_a_secret_and_a_configmap(control_plane: ControlPlane,
                                                                     namespace: str) -> None:
    cp, ns = control_plane, namespace
    config_yaml = "backend: shop-backend\nretries: 3\n"
    app = podinfo.container(
        args=("--config-path=/etc/podinfo/config", "--ui-color=$(COLOR)"),
        env=[_ref("PODINFO_UI_MESSAGE", "configMapKeyRef", "shop-config", "message"),
             _ref("API_TOKEN", "secretKeyRef", "shop-secrets", "token"),
             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "WHO", "value": "$(POD_NAME).$(POD_NAMESPACE) $$(literal)"},
             {"name": "COLOR", "value": "#ff8800"}],
        envFrom=[{"configMapRef": {"name": "shop-config"}, "prefix": "CFG_"}, {"secretRef": {"name": "shop-secrets"}}],
        volumeMounts=[{"name": "config", "mountPath": "/etc/podinfo/config", "readOnly": True},
                      {"name": "data", "mountPath": "/data"}],
        readinessProbe=podinfo.http_probe("/readyz"), livenessProbe=PODCLI_PROBE,
        resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        securityContext={"allowPrivilegeEscalation": False})
    shipper = {"name": "log-shipper", "image": "hashicorp/http-echo:1.0",
               "args": ["-listen=:8080", "-text=shipping"], "ports": [{"containerPort": 8080}]}
    deploy = podinfo.deployment(
        "shop", ns, [app, shipper], replicas=2, serviceAccountName="default",
        volumes=[{"name": "config", "configMap": {"name": "shop-config", "items": [
            {"key": "config.yaml", "path": "config.yaml"}]}}, {"name": "data", "emptyDir": {}}])
    deploy["spec"]["template"]["metadata"]["annotations"] = {"prometheus.io/scrape": "true"}
    _apply(cp, _secret(ns, "shop-secrets", token="s3cret"),
           _configmap(ns, "shop-config", message="hello from the configmap", **{"config.yaml": config_yaml}),
           deploy)

    def two_ready() -> list[dict[str, Any]]:
        ready = [p for p in _pods(cp, ns, "app=shop") if _ready(p)]
        return ready if len(ready) == 2 else []

    pods = _until("two Ready pods", two_ready)
    ips = sorted(p["status"]["podIP"] for p in pods)
    assert len(set(ips)) == 2  # two pods, both on podinfo's port 9898, each on its own address
    for pod in pods:
        ip, name = pod["status"]["podIP"], pod["metadata"]["name"]
        info = podinfo.get(ip)
        assert (info["hostname"], info["message"]) == (name, "hello from the configmap")
        assert info["color"] == "#ff8800"  # --ui-color=$(COLOR), expanded from the env as the kubelet does
        env = podinfo.env(ip)
        assert {k: env.get(k) for k in ("API_TOKEN", "token", "CFG_message", "POD_NAME", "POD_NAMESPACE", "POD_IP",
                                        "WHO")} == {
            "API_TOKEN": "s3cret", "token": "s3cret", "CFG_message": "hello from the configmap", "POD_NAME": name,
            "POD_NAMESPACE": ns, "POD_IP": ip, "WHO": f"{name}.{ns} $(literal)"}
        assert "CFG_config.yaml" not in env  # not a valid variable name: the kubelet skips it
        assert podinfo.get(ip, "/configs") == {"config.yaml": config_yaml}
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as resp:  # the sidecar, same address
            assert resp.read() == b"shipping\n"
        assert [(c["name"], c["ready"], c["restartCount"], list(c["state"])) for c in
                pod["status"]["containerStatuses"]] == [("podinfod", True, 0, ["running"]),
                                                        ("log-shipper", True, 0, ["running"])]

    # The kubelet refreshes ConfigMap volumes; podinfo's watcher sees the swapped ..data.
    cp.kubectl("patch", "configmap", "shop-config", "-n", ns, "--type=merge", "-p",
               json.dumps({"data": {"config.yaml": "backend: other\n"}}))
    _until("the new config.yaml in the pods", lambda: all(
        podinfo.get(ip, "/configs") == {"config.yaml": "backend: other\n"} for ip in ips), timeout=30)


def test_a_missing_secret_holds_the_container_until_it_exists(control_plane: ControlPlane, namespace: str) -> None:
    cp, ns = control_plane, namespace
    app = podinfo.container(env=[_ref("API_TOKEN", "secretKeyRef", "late", "token")],
                            readinessProbe=podinfo.http_probe("/readyz"))
    _apply(cp, podinfo.deployment("late", ns, [app]))
    pod = _container_status(cp, ns, "app=late", "podinfod",
                            lambda c: c["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError")
    assert _status(pod, "podinfod")["state"]["waiting"]["message"] == 'secret "late" not found'
    assert pod["status"]["phase"] == "Pending" and not _ready(pod)
    assert any(e["reason"] == "Failed" and 'secret "late" not found' in e["message"] for e in _events(cp, ns, pod))

    _apply(cp, _secret(ns, "late", other="x"))  # the Secret, without the key
    pod = _container_status(cp, ns, "app=late", "podinfod",
                            lambda c: "couldn't find key" in c["state"].get("waiting", {}).get("message", ""))
    assert _status(pod, "podinfod")["state"]["waiting"]["message"] == f"couldn't find key token in Secret {ns}/late"

    _apply(cp, _secret(ns, "late", token="finally"))
    pod = _until("the pod Ready", lambda: [p for p in _pods(cp, ns, "app=late") if _ready(p)])[0]
    assert podinfo.env(pod["status"]["podIP"])["API_TOKEN"] == "finally"
    assert _status(pod, "podinfod")["restartCount"] == 0  # it was waiting, not crashing


def test_an_unready_podinfo_is_running_but_not_ready(control_plane: ControlPlane, namespace: str) -> None:
    cp, ns = control_plane, namespace
    app = podinfo.container(env=[{"name": "PODINFO_UNREADY", "value": "true"}],
                            readinessProbe=podinfo.http_probe("/readyz", failures=1))
    _apply(cp, podinfo.deployment("unready", ns, [app]), podinfo.service("unready", ns))
    pod = _container_status(cp, ns, "app=unready", "podinfod", lambda c: "running" in c["state"])
    ip = pod["status"]["podIP"]
    _until("podinfo serving", lambda: (podinfo.answer(ip) or {}).get("hostname") == pod["metadata"]["name"])
    with pytest.raises(urllib.error.HTTPError) as readyz:
        podinfo.get(ip, "/readyz")
    assert readyz.value.code == 503
    time.sleep(3)  # three probe periods: the probe has run and failed, so the pod is still not Ready
    pod = _pods(cp, ns, "app=unready")[0]
    assert pod["status"]["phase"] == "Running" and not _ready(pod)
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("ContainersNotReady", "containers with unready status: [podinfod]")
    says = "Readiness probe failed: HTTP probe failed with statuscode: 503"
    assert any(e["reason"] == "Unhealthy" and says in e["message"] for e in _events(cp, ns, pod))

    podinfo.get(ip, "/readyz/enable", method="POST")  # podinfo says ready now: the probe notices
    _until("the pod Ready", lambda: _ready(_pods(cp, ns, "app=unready")[0]), timeout=15)
    slices = json.loads(cp.kubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=unready",
                                   "-o", "json").stdout)["items"]
    assert [(e["addresses"], e["conditions"]["ready"]) for s in slices for e in s.get("endpoints") or []] == [
        ([ip], True)]


@pytest.mark.parametrize(("probe", "says"), [
    (podinfo.http_probe("/healthz", failures=2), "Liveness probe failed: HTTP probe failed with statuscode: 503"),
    (PODCLI_PROBE, "Liveness probe failed: exit code 1"),
], ids=["httpGet", "exec-podcli"])
def test_a_failing_liveness_probe_restarts_the_container(control_plane: ControlPlane, namespace: str,
                                                         probe: dict[str, Any], says: str) -> None:
    cp, ns = control_plane, namespace
    app = podinfo.container(args=("--unhealthy",), livenessProbe=probe)
    _apply(cp, podinfo.deployment("sick", ns, [app]))
    pod = _container_status(cp, ns, "app=sick", "podinfod", lambda c: c["restartCount"] >= 1)
    status = _status(pod, "podinfod")
    assert set(status["lastState"]["terminated"]) >= {"exitCode", "startedAt", "finishedAt"}
    events = _events(cp, ns, pod)
    assert any(e["reason"] == "Unhealthy" and says in e["message"] for e in events), events
    assert any(e["reason"] == "Killing" and "failed liveness probe, will be restarted" in e["message"]
               for e in events)
    # The same pod (name, address) keeps running the restarted container.
    pod = _container_status(cp, ns, "app=sick", "podinfod", lambda c: "running" in c["state"] and c["restartCount"])
    _until("the restarted podinfo serving", lambda: (podinfo.answer(pod["status"]["podIP"]) or {}).get("hostname")
           == pod["metadata"]["name"])


def test_init_containers_run_first_and_share_an_emptydir(control_plane: ControlPlane, namespace: str) -> None:
    cp, ns = control_plane, namespace
    work = [{"name": "work", "mountPath": "/work"}]
    init = {"name": "prepare", "image": podinfo.IMAGE, "volumeMounts": work,
            "command": ["sh", "-c", "echo prepared by $(HOSTNAME_SEEN) > /work/init.txt"],
            "env": [{"name": "HOSTNAME_SEEN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    app = podinfo.container(args=("--config-path=/work",), volumeMounts=work,
                            readinessProbe=podinfo.http_probe("/readyz"))
    _apply(cp, podinfo.deployment("init", ns, [app], initContainers=[init], volumes=[{"name": "work", "emptyDir": {}}]))
    pod = _until("the pod Ready", lambda: [p for p in _pods(cp, ns, "app=init") if _ready(p)])[0]
    name = pod["metadata"]["name"]
    assert podinfo.get(pod["status"]["podIP"], "/configs") == {"init.txt": f"prepared by {name}\n"}
    (init_status,) = pod["status"]["initContainerStatuses"]
    assert init_status["state"]["terminated"]["reason"] == "Completed" and init_status["ready"]
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "True"
    assert not pathlib.Path("/work/init.txt").exists()  # the mount was the container's, not the node's


def test_a_volume_of_a_missing_configmap_holds_the_pod_until_it_exists(control_plane: ControlPlane,
                                                                      namespace: str) -> None:
    cp, ns = control_plane, namespace
    app = podinfo.container(args=("--config-path=/etc/podinfo",),
                            volumeMounts=[{"name": "config", "mountPath": "/etc/podinfo"}])
    _apply(cp, podinfo.deployment("vol", ns, [app], volumes=[{"name": "config", "configMap": {"name": "vol"}}]))
    pod = _until("a FailedMount event and the status", lambda: [p for p in _pods(cp, ns, "app=vol") if any(
        e["reason"] == "FailedMount" and 'configmap "vol" not found' in e["message"] for e in _events(cp, ns, p))
        and p["status"].get("containerStatuses")])[0]
    assert _status(pod, "podinfod")["state"]["waiting"]["reason"] == "ContainerCreating"
    assert pod["status"]["phase"] == "Pending"
    _apply(cp, _configmap(ns, "vol", **{"settings.yaml": "level: debug\n"}))
    pod = _until("the pod Ready", lambda: [p for p in _pods(cp, ns, "app=vol") if _ready(p)])[0]
    assert podinfo.get(pod["status"]["podIP"], "/configs") == {"settings.yaml": "level: debug\n"}


def test_a_container_that_exits_is_restarted_with_a_back_off(control_plane: ControlPlane, namespace: str) -> None:
    cp, ns = control_plane, namespace
    _apply(cp, podinfo.deployment("crash", ns, [podinfo.container(args=("--no-such-flag",))]))
    pod = _container_status(cp, ns, "app=crash", "podinfod", lambda c: c["restartCount"] >= 2 and c["state"].get(
        "waiting", {}).get("reason") == "CrashLoopBackOff")
    status = _status(pod, "podinfod")
    assert status["lastState"]["terminated"]["exitCode"] == 2  # podinfo's exit code for a bad flag
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in status["state"]["waiting"]["message"] and not _ready(pod)
    assert pod["status"]["phase"] == "Running"  # it has run: the kubelet calls a crash-looping pod Running
