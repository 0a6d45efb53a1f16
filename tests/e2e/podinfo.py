"""podinfo (github.com/stefanprodan/podinfo), the application Flagger's and Argo Rollouts' own
tutorials roll out, as the e2e tests deploy it: manifests shaped like podinfo's own
(kustomize/deployment.yaml: `./podinfo --port=9898 ...`, a port named http, probes on /readyz and
/healthz) and a client for its API. The node agent runs it for the image `ghcr.io/stefanprodan/podinfo`
(images.py), built by build-tools.sh at the version tools.version("podinfo_app") says.

What podinfo answers (checked against the built binary): `GET /` JSON with "hostname" (the pod's
name), "version" and "message" (`--ui-message`, env PODINFO_UI_MESSAGE); `/env` its environment as a
JSON list of NAME=value; `/configs` the files in `--config-path` (name -> content, refreshed when the
kubelet swaps ..data); `/readyz` and `/healthz` 200 or 503 (`--unready`, `--unhealthy`, env
PODINFO_UNREADY...; POST /readyz/enable and /readyz/disable flip readiness at run time).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

IMAGE = "ghcr.io/stefanprodan/podinfo:6.9.2"
# Pods are reached directly, never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PORT = 9898


def container(name: str = "podinfod", port: int = PORT, args: tuple[str, ...] = (), image: str = IMAGE,
              **fields: Any) -> dict[str, Any]:
    """A podinfo container as podinfo's own manifests write it, plus any other fields (env, probes...)."""
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["./podinfo", f"--port={port}", "--level=info", *args],
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}], **fields}


def http_probe(path: str, port: int | str = "http", period: int = 1, failures: int = 3) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, "periodSeconds": period,
            "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": failures}


def deployment(name: str, namespace: str, containers: list[dict[str, Any]], replicas: int = 1,
               **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": containers, **pod_spec}}}}


def service(name: str, namespace: str, port: int = PORT) -> dict[str, Any]:
    """A Service for the Deployment `name` (its pods' label app=name), port 80 to podinfo's port."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": port}]}}


def get(ip: str, path: str = "/", port: int = PORT, method: str = "GET") -> Any:
    """podinfo's JSON answer, None for an empty one (raises urllib.error.HTTPError on a status >= 400)."""
    req = urllib.request.Request(f"http://{ip}:{port}{path}", method=method)
    with _OPENER.open(req, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def answer(ip: str, path: str = "/", port: int = PORT) -> Any:
    """podinfo's JSON answer, or None while nothing accepts connections there (starting, restarting)."""
    try:
        return get(ip, path, port)
    except urllib.error.HTTPError:
        raise
    except OSError:
        return None


def env(ip: str, port: int = PORT) -> dict[str, str]:
    """The process environment podinfo reports at /env."""
    return dict(item.split("=", 1) for item in get(ip, "/env", port))
