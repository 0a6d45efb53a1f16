"""The webhook's Deployment, Service and PodDisruptionBudget in both kustomize installs: the hardened
pod the issue asks for (table-driven, one row per setting), probes on the real endpoints of the probe port, the command
line of each TLS mode, and a Service and PDB that really select the pods.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .render import NAMESPACE, Obj, find


def pod(objs: list[Obj]) -> Obj:
    return find(objs, "Deployment", "canary-webhook")["spec"]["template"]["spec"]


def container(objs: list[Obj]) -> Obj:
    (only,) = pod(objs)["containers"]
    return only


def get(obj: Any, path: str) -> Any:
    """obj at a dotted path; None when any step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def port_number(c: Obj, port: int | str) -> int:
    """A probe or Service port, resolving a port name to the container port."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    return number


Check = Callable[[Obj, Obj, Obj], bool]  # (deployment spec, pod spec, container) -> ok

SETTINGS: list[tuple[str, Check]] = [
    ("two or more replicas", lambda d, p, c: d["replicas"] >= 2),
    ("rollouts keep every replica serving", lambda d, p, c: d["strategy"]["rollingUpdate"]["maxUnavailable"] == 0),
    ("runs as the webhook's ServiceAccount", lambda d, p, c: p["serviceAccountName"] == "canary-webhook"),
    ("pod runs as non-root", lambda d, p, c: p["securityContext"]["runAsNonRoot"] is True),
    ("pod runs as user 10001", lambda d, p, c: p["securityContext"]["runAsUser"] == 10001),
    ("container runs as non-root", lambda d, p, c: c["securityContext"]["runAsNonRoot"] is True),
    ("container runs as user 10001", lambda d, p, c: c["securityContext"]["runAsUser"] == 10001),
    ("read-only root filesystem", lambda d, p, c: c["securityContext"]["readOnlyRootFilesystem"] is True),
    ("no privilege escalation", lambda d, p, c: c["securityContext"]["allowPrivilegeEscalation"] is False),
    ("not privileged", lambda d, p, c: not c["securityContext"].get("privileged", False)),
    ("all capabilities dropped", lambda d, p, c: c["securityContext"]["capabilities"] == {"drop": ["ALL"]}),
    ("seccomp RuntimeDefault (pod)",
     lambda d, p, c: p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}),
    ("seccomp RuntimeDefault (container)",
     lambda d, p, c: c["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}),
    ("no host namespaces", lambda d, p, c: not any(p.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))),
    ("a CPU request", lambda d, p, c: bool(get(c, "resources.requests.cpu"))),
    ("no CPU limit", lambda d, p, c: get(c, "resources.limits.cpu") is None),
    ("a memory request", lambda d, p, c: bool(get(c, "resources.requests.memory"))),
    ("a memory limit", lambda d, p, c: bool(get(c, "resources.limits.memory"))),
    ("serves HTTPS on 8443 and the probes on 8081",
     lambda d, p, c: [(x["name"], x["containerPort"]) for x in c["ports"]] == [("https", 8443), ("probes", 8081)]),
    ("readiness probe: HTTP GET /readyz on the probe port",
     lambda d, p, c: (c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["scheme"],
                      port_number(c, c["readinessProbe"]["httpGet"]["port"])) == ("/readyz", "HTTP", 8081)),
    ("liveness probe: HTTP GET /healthz on the probe port",
     lambda d, p, c: (c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["scheme"],
                      port_number(c, c["livenessProbe"]["httpGet"]["port"])) == ("/healthz", "HTTP", 8081)),
    ("Prometheus scrapes /metrics on the probe port",
     lambda d, p, c: d["template"]["metadata"]["annotations"] == {
         "prometheus.io/scrape": "true", "prometheus.io/port": "8081", "prometheus.io/path": "/metrics"}),
    ("POD_NAMESPACE from the pod's namespace",
     lambda d, p, c: {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
     in c["env"]),
    ("writable /tmp on an emptyDir",
     lambda d, p, c: any(m["mountPath"] == "/tmp" and "emptyDir" in _volume(p, m["name"]) for m in c["volumeMounts"])),
    ("anti-affinity prefers spreading over nodes",
     lambda d, p, c: any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                         for t in p["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"])),
    ("preStop needs no shell", lambda d, p, c: "exec" not in c.get("lifecycle", {}).get("preStop", {})),
]


def _volume(pod_spec: Obj, name: str) -> Obj:
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == name]
    return volume


@pytest.mark.parametrize(("what", "check"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_deployment_setting(install: tuple[str, list[Obj]], what: str, check: Check) -> None:
    _, objs = install
    deployment = find(objs, "Deployment", "canary-webhook")["spec"]
    assert check(deployment, pod(objs), container(objs)), what


COMMAND_LINES = {
    "base": ["canary-webhook", "serve", "--host", "0.0.0.0", "--port", "8443", "--probe-port", "8081",
             "--cert-dir", "/etc/canary-webhook/tls", "--tls-secret", "canary-webhook-tls",
             "--service", "canary-webhook", "--webhook-configuration", "kubectl-canary"],
    "cert-manager": ["canary-webhook", "serve", "--host", "0.0.0.0", "--port", "8443", "--probe-port", "8081",
                     "--cert-dir", "/etc/canary-webhook/tls"],
}


def test_command_line_of_each_tls_mode(install: tuple[str, list[Obj]]) -> None:
    variant, objs = install
    c = container(objs)
    assert c["command"] + c["args"] == COMMAND_LINES[variant]


def test_cert_dir_is_mounted(install: tuple[str, list[Obj]]) -> None:
    variant, objs = install
    c = container(objs)
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/canary-webhook/tls"]
    volume = _volume(pod(objs), mount["name"])
    if variant == "base":  # the webhook writes the pair it keeps in its Secret here
        assert "emptyDir" in volume and not mount.get("readOnly")
    else:  # cert-manager's Secret, read-only
        assert volume["secret"]["secretName"] == "canary-webhook-tls" and mount["readOnly"] is True


def test_service_sends_443_to_the_pods_8443_and_nothing_else(install: tuple[str, list[Obj]]) -> None:
    # The probe port is the kubelet's and Prometheus' (on the pods), not the Service's.
    _, objs = install
    service = find(objs, "Service", "canary-webhook")
    assert service["metadata"]["namespace"] == NAMESPACE
    (port,) = service["spec"]["ports"]
    assert (port["port"], port_number(container(objs), port["targetPort"])) == (443, 8443)
    labels = find(objs, "Deployment", "canary-webhook")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_pdb_keeps_one_pod_of_the_deployment(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    pdb = find(objs, "PodDisruptionBudget", "canary-webhook")["spec"]
    deployment = find(objs, "Deployment", "canary-webhook")["spec"]
    assert pdb["minAvailable"] == 1
    assert pdb["selector"] == deployment["selector"]
    # minAvailable 1 with 2+ replicas leaves room to evict one pod at a time: drains never deadlock.
    assert deployment["replicas"] > pdb["minAvailable"]


def test_deployment_selector_selects_its_pods(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    deployment = find(objs, "Deployment", "canary-webhook")["spec"]
    assert deployment["selector"]["matchLabels"].items() <= deployment["template"]["metadata"]["labels"].items()


def test_command_line_is_one_the_webhook_accepts(install: tuple[str, list[Obj]], tmp_path: Path) -> None:
    # Parse the Deployment's command line with the real `canary-webhook` click command (nothing is
    # started), so a renamed or removed flag breaks this test rather than the pods. --cert-dir must
    # exist to parse: the mount point becomes a temp dir here.
    from webhook.cli.main import cli

    variant, objs = install
    c = container(objs)
    assert c["command"] == ["canary-webhook"]
    args = [str(tmp_path) if arg == "/etc/canary-webhook/tls" else arg for arg in c["args"]]
    name, *rest = args
    command = cli.commands[name]
    params = command.make_context(name, rest).params
    assert (params["host"], params["port"], params["cert_dir"]) == ("0.0.0.0", 8443, tmp_path)
    # the probes' port in the pod is the one the server serves them on
    assert port_number(c, "probes") == params["probe_port"]
    managed = (params["tls_secret"], params["service"], params["webhook_configuration"])
    if variant == "base":
        assert managed == ("canary-webhook-tls", "canary-webhook", "kubectl-canary")
    else:
        assert managed == (None, None, None)
