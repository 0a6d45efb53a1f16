"""The real admission webhook for end-to-end runs: `WebhookProcess` runs `canary-webhook serve` on a
free loopback port, with a CA and serving certificate made by `canary-webhook certs` and the watch
caches reading the test cluster, and waits for its /readyz. `register` installs the webhook
configurations exactly as deploy/base ships them (rendered by the built kubectl's kustomize), with
one change per webhook: `clientConfig.service` becomes `clientConfig.url` on that loopback port and
`caBundle` is the CA that `certs` printed. Failure policies, rules, selectors and timeouts stay as
shipped, so the tests see what users install.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from .controlplane import ControlPlane, _die_with_parent, _tail, _terminate, free_port

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"
CONFIGURATION = "kubectl-canary"
CONFIG_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

Obj = dict[str, Any]


class WebhookError(RuntimeError):
    """The webhook did not start, or the API server did not start calling it."""


def executable(name: str) -> str:
    """A console script of this project: next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise WebhookError(f"{name} not found next to {sys.executable} nor on PATH; run `make test` to install")
    return found


class WebhookProcess:
    """`canary-webhook serve` on 127.0.0.1 (or `host`, e.g. a pod address); a context manager, or start() /
    stop() / close(), or sigterm() and exit_code() to watch a graceful stop as the kubelet would.

    stop() ends the process but keeps its port and certificates, so a later start() serves the same
    URL and CA again (the registered configurations stay valid). close() also removes the temp dir.
    """

    def __init__(
        self, kubeconfig: Path, default_api_group: str | None = None, extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0, host: str = "127.0.0.1", port: int = 0, tls_dir: Path | None = None,
        probe_port: int = 0, command: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        # The server's command line before `serve` (default: the installed console script).
        self.command = list(command)
        self.default_api_group = default_api_group
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.host = host
        self.dir = Path()
        self.port = port
        self.probe_port = probe_port  # /healthz, /readyz, /metrics over plain HTTP (`serve --probe-port`)
        # Certificates made elsewhere (make_certs), shared like a Secret mounted in every pod; else our own.
        self.tls_dir = tls_dir
        self.ca_bundle = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WebhookProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The running server's process id (None when stopped), to show that one process served throughout."""
        return self._proc.pid if self.running else None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def probe_url(self) -> str:
        """Where the kubelet probes it and Prometheus scrapes it (plain HTTP)."""
        return f"http://{self.host}:{self.probe_port}"

    @property
    def log(self) -> Path:
        return self.dir / "webhook.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Make the certificates (first time only), start serving and wait until /readyz answers 200."""
        if self.running:  # a second server on the same address would fail to bind, yet see the first one ready
            raise WebhookError(f"canary-webhook is already running on {self.url} (pid {self.pid})")
        if self.dir == Path():
            self.dir = Path(tempfile.mkdtemp(prefix="canary-e2e-webhook-"))
            self.port = self.port or free_port()
            self.probe_port = self.probe_port or free_port()
            if self.tls_dir is None:
                self.tls_dir = self.dir / "tls"
                self.ca_bundle = make_certs(self.tls_dir, dns=["localhost"], ips=[self.host])
            else:
                self.ca_bundle = base64.b64encode((self.tls_dir / "ca.crt").read_bytes()).decode()
        args = [*(self.command or [executable("canary-webhook")]), "serve", "--host", self.host,
                "--port", str(self.port), "--probe-port", str(self.probe_port),
                "--cert-dir", str(self.tls_dir), "--kubeconfig", str(self.kubeconfig), *self.extra_args]
        if self.default_api_group:
            args += ["--default-api-group", self.default_api_group]
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise WebhookError(f"canary-webhook exited with code {self._proc.returncode}\n{_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.probe_url}/readyz", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as err:  # 503 until the caches are synced
                last = f"{err.code} {err.read().decode(errors='replace')[:500]}"
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.2)
        raise WebhookError(
            f"{self.probe_url}/readyz not ready after {self.startup_timeout}s: {last}\n{_tail(self.log)}")

    def sigterm(self) -> None:
        """What the kubelet does to a pod's container: SIGTERM to its main process only (gunicorn's master,
        which stops its workers); the process drains and exits by itself (see exit_code)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)

    def exit_code(self, grace: float) -> int:
        """The exit code of the process within `grace` seconds of sigterm(); else SIGKILL, as the kubelet
        does, and WebhookError."""
        assert self._proc is not None
        proc = self._proc
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _terminate(proc, grace=0)
            raise WebhookError(f"canary-webhook did not exit within {grace}s of SIGTERM\n{_tail(self.log)}") from None
        finally:
            self._proc = None

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL); the port and certificates stay for start()."""
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None

    def close(self) -> None:
        self.stop()
        if self.dir != Path() and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


def make_certs(out: Path, dns: Sequence[str] = (), ips: Sequence[str] = ()) -> str:
    """`canary-webhook certs` into `out` (ca.crt, tls.crt, tls.key) for these names; returns the caBundle."""
    args = [executable("canary-webhook"), "certs", "--out", str(out)]
    args += [arg for name in dns for arg in ("--dns", name)] + [arg for ip in ips for arg in ("--ip", ip)]
    certs = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    if certs.returncode != 0:
        raise WebhookError(f"canary-webhook certs failed ({certs.returncode}): {certs.stderr}")
    return certs.stdout.strip()


# ---- the webhook configurations ------------------------------------------------------------------


def shipped_configurations(control_plane: ControlPlane) -> list[Obj]:
    """The two `kubectl-canary` webhook configurations as `kubectl apply -k deploy/base` would create them."""
    rendered = control_plane.kubectl("kustomize", str(BASE)).stdout
    found = [doc for doc in yaml.safe_load_all(rendered)
             if doc and doc.get("kind") in CONFIG_KINDS and doc["metadata"]["name"] == CONFIGURATION]
    if sorted(doc["kind"] for doc in found) != sorted(CONFIG_KINDS):
        raise WebhookError(f"deploy/base does not render both {CONFIG_KINDS} named {CONFIGURATION}")
    return found


def loopback_configurations(shipped: list[Obj], url: str, ca_bundle: str) -> list[Obj]:
    """`shipped` with each webhook's `clientConfig.service` replaced by `url` + its path, and the caBundle."""
    found = []
    for config in shipped:
        config = copy.deepcopy(config)
        for hook in config["webhooks"]:
            service = hook["clientConfig"].pop("service")
            hook["clientConfig"]["url"] = url + service.get("path", "/")
            hook["clientConfig"]["caBundle"] = ca_bundle
        found.append(config)
    return found


def service_configurations(shipped: list[Obj], namespace: str, ca_bundle: str) -> list[Obj]:
    """`shipped` as installed with the webhook's Service in `namespace`: each `clientConfig.service` keeps
    its name, port and path, and the caBundle is set (what deploy/ does for canary-system)."""
    found = []
    for config in shipped:
        config = copy.deepcopy(config)
        for hook in config["webhooks"]:
            hook["clientConfig"]["service"]["namespace"] = namespace
            hook["clientConfig"]["caBundle"] = ca_bundle
        found.append(config)
    return found


# A RouteTable the webhook both mutates (weights 1 and 3) and refuses (no such Upstream): a server dry
# run of it shows whether kube-apiserver already calls both configurations.
_PROBE = {
    "apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
    "metadata": {"name": "e2e-webhook-probe", "namespace": "default"},
    "spec": {"routes": [{"matchers": [{"prefix": "/probe"}], "routeAction": {"multi": {"destinations": [
        {"destination": {"upstream": {"name": "e2e-webhook-probe-missing"}}, "weight": 1},
        {"destination": {"upstream": {"name": "e2e-webhook-probe-missing"}}, "weight": 3},
    ]}}}]},
}


def register(
    control_plane: ControlPlane, hook: WebhookProcess, timeout: float = 30.0, configs: list[Obj] | None = None,
) -> list[Obj]:
    """Apply `configs` (default: the loopback configurations for `hook`) and wait until kube-apiserver
    calls both; returns them."""
    if configs is None:
        configs = loopback_configurations(shipped_configurations(control_plane), hook.url, hook.ca_bundle)
    control_plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": configs}))
    # The API server picks webhook configurations up through its own watch: wait for it.
    deadline = time.monotonic() + timeout
    while True:
        probe = control_plane.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(_PROBE), check=False)
        mutated = "normalised" in probe.stderr
        validated = "routetables.validate.kubectl-canary.io" in probe.stderr
        if mutated and validated:
            return configs
        if time.monotonic() > deadline:
            raise WebhookError(f"kube-apiserver does not call the webhook after {timeout}s; last probe: "
                               f"{probe.stdout}{probe.stderr}\nwebhook log:\n{hook.log_tail()}")
        time.sleep(0.2)


def unregister(control_plane: ControlPlane) -> None:
    """Delete both configurations (kube-apiserver stops calling the webhook a moment later)."""
    control_plane.kubectl("delete", "--ignore-not-found", *(f"{kind.lower()}/{CONFIGURATION}" for kind in CONFIG_KINDS))


# ---- RouteTables the tests apply by hand (kubectl apply), as a user or a GitOps tool would -----------


def destination(namespace: str, version: str, weight: int | None = None) -> Obj:
    found: Obj = {"destination": {"upstream": {"name": "echo", "namespace": namespace},
                                  "subset": {"values": {"version": version}}}}
    if weight is not None:
        found["weight"] = weight
    return found


def route_table(namespace: str, name: str, action: Obj) -> str:
    return json.dumps({
        "apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"routes": [{"matchers": [{"prefix": f"/{name}"}], "routeAction": action}]},
    })
