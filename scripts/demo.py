"""`make demo`: the seed's two-phase canary release, step by step, on a real local cluster and gateway.

It builds the e2e tools from Go modules, or reuses them from the cache (tests/e2e/build-tools.sh;
a cold build takes minutes and prints its progress), starts etcd, kube-apiserver,
kube-controller-manager and the node agent that runs the pods, with the Gloo Edge CRDs
(tests/e2e/controlplane.py), then the real gloo control plane and Envoy (tests/e2e/gateway.py) and
the seed's VirtualService; runs `canary-webhook serve` and registers it through the webhook
configurations of deploy/base (tests/e2e/webhook.py), and then drives the workflow with `kubectl
canary`, showing `kubectl canary status` and the RouteTable after each step, the seed's curl lines
through the gateway, the split measured over 100 requests, and the webhook refusing to delete the
Deployment that still takes half the traffic. Then phase 2 with eyes open, on podinfo with users
sending: `shift --step` moves a healthy canary to 100% step by step, judging each window from the
gateway-proxy pods' counters, and aborts a canary answering errors (podinfo's --random-error) at
its first step. `make demo` runs it inside a network namespace of its own (tests/e2e/netns.sh).
Everything is stopped and removed at the end, also on errors, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e import tools  # noqa: E402 - needs the repository root on sys.path
from tests.e2e.controlplane import ControlPlane  # noqa: E402
from tests.e2e.gateway import GLOO_NAMESPACE, Gateway  # noqa: E402
from tests.e2e.traffic import HEADER, Users, sample, wait_for  # noqa: E402
from tests.e2e.webhook import WebhookProcess, register  # noqa: E402

API_GROUP = "example"  # the seed's apiGroup; the webhook sets it on RouteTables that have none
# The seed's VirtualService: every RouteTable labelled apiGroup: example, in any namespace.
SEED_VS = {"apiVersion": "gateway.solo.io/v1", "kind": "VirtualService",
           "metadata": {"name": "app", "namespace": GLOO_NAMESPACE},
           "spec": {"virtualHost": {"domains": ["*"], "routes": [{"matchers": [{"prefix": "/"}], "delegateAction": {
               "selector": {"labels": {"apiGroup": API_GROUP}, "namespaces": ["*"]}}}]}}}
HOST = "gateway.demo"
PODINFO = "ghcr.io/stefanprodan/podinfo:6.9.2"


def say(text: str) -> None:
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{bold}==> {text}{plain}", flush=True)


class Demo:
    """Runs commands against the demo cluster the way a user would type them, and shows their output."""

    def __init__(self, control_plane: ControlPlane, gateway: Gateway) -> None:
        self.cp = control_plane
        self.gw = gateway
        kubectl = tools.tool("kubectl")
        # The built kubectl first (so `kubectl` is the one shown), then this venv's kubectl-canary.
        path = os.pathsep.join([str(kubectl.parent), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        self.env = dict(os.environ, PATH=path, KUBECONFIG=str(control_plane.kubeconfig),
                        KUBECACHEDIR=str(control_plane.dir / "kube-cache"))

    def run(self, *args: str, expect_failure: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`kubectl ARGS`, echoed with its output; an unexpected exit code ends the demo."""
        print(f"\n$ kubectl {' '.join(args)}", flush=True)
        proc = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        sys.stdout.flush()
        if (proc.returncode != 0) != expect_failure:
            wanted = "to be refused" if expect_failure else "to succeed"
            raise SystemExit(f"demo: `kubectl {' '.join(args)}` exited {proc.returncode}; expected it {wanted}")
        return proc

    def show_routetable(self, service: str) -> None:
        """The RouteTable's labels and spec (the rest is server bookkeeping)."""
        print(f"\n$ kubectl get routetable {service}-routes -n {service} -o yaml   # labels and spec", flush=True)
        got = subprocess.run(["kubectl", "get", "routetable", f"{service}-routes", "-n", service, "-o", "json"],
                             env=self.env, capture_output=True, text=True, timeout=60, check=True)
        rt = json.loads(got.stdout)
        shown = {"metadata": {"labels": rt["metadata"].get("labels", {})}, "spec": rt["spec"]}
        print(yaml.safe_dump(shown, sort_keys=False), end="", flush=True)

    def healthy(self, service: str, timeout: float = 120) -> None:
        """Until `kubectl canary status` exits 0: Gloo accepted everything, every routed version has ready
        endpoints."""
        deadline = time.monotonic() + timeout
        while subprocess.run(["kubectl", "canary", "status", service, "-n", service], env=self.env,
                             capture_output=True, timeout=60, check=False).returncode != 0:
            if time.monotonic() > deadline:
                self.run("canary", "status", service, "-n", service)
                raise SystemExit(f"demo: {service} not healthy after {timeout}s")
            time.sleep(0.5)

    def served(self, path: str, timeout: float = 60) -> None:
        """Until every gateway replica answers a batch of requests to `path` with 200s: status reads Gloo and
        the endpoints, and Envoy takes the new routes and endpoints a moment later."""
        deadline = time.monotonic() + timeout
        for url in self.gw.urls:
            while (failed := {k: n for k, n in sample(url, HOST, path, 10).items() if k.startswith("HTTP ")}):
                if time.monotonic() > deadline:
                    raise SystemExit(f"demo: {url}{path} not served after {timeout}s: {failed}")
                time.sleep(0.5)

    def curls(self, service: str, plain: set[str], header: set[str]) -> None:
        """The seed's curl lines through the gateway, then the split over 100 requests."""
        path = f"/{service}"
        wait_for(self.gw.url, HOST, path, {f"version:{service}-{v}" for v in plain})
        wait_for(self.gw.url, HOST, path, {f"version:{service}-{v}" for v in header}, HEADER)
        for headers, shown in ((None, ""), (HEADER, ' -H "stage: canary"')):
            print(f"\n$ curl $(glooctl proxy url){path}{shown}", flush=True)
            print(next(iter(sample(self.gw.url, HOST, path, 1, headers))), flush=True)
        for headers, shown in ((None, "100 requests"), (HEADER, '100 requests with "stage: canary"')):
            got = sample(self.gw.url, HOST, path, 100, headers)
            counts = ", ".join(f"{label.removeprefix('version:')} {n}" for label, n in sorted(got.items()))
            print(f"{shown}: {counts}", flush=True)

    def step(self, title: str, args: tuple[str, ...], plain: set[str], header: set[str]) -> None:
        say(title)
        self.run("canary", *args, "-n", "echo")
        self.healthy("echo")
        self.run("canary", "status", "echo", "-n", "echo")
        self.show_routetable("echo")
        self.curls("echo", plain, header)

    def workflow(self) -> None:
        say("Two namespaces, as in the seed (kubectl create ns echo; kubectl create ns foxtrot)")
        self.run("create", "namespace", "echo")
        self.run("create", "namespace", "foxtrot")
        self.step("values-1: echo v1 takes all traffic (init sets no apiGroup: the webhook adds it)",
                  ("init", "echo", "--version", "v1"), {"v1"}, {"v1"})
        say("foxtrot v1, next to it")
        self.run("canary", "init", "foxtrot", "--version", "v1", "-n", "foxtrot")
        self.healthy("foxtrot")
        self.curls("foxtrot", {"v1"}, {"v1"})
        self.step("values-2: deploy v2 without routing to it", ("start", "echo", "--version", "v2", "--no-route"),
                  {"v1"}, {"v1"})
        self.step("values-3: phase 1, requests with header stage: canary go to v2",
                  ("start", "echo", "--version", "v2"), {"v1"}, {"v2"})
        self.step("values-4: phase 2, half of the traffic to v2", ("shift", "echo", "--weight", "50"),
                  {"v1", "v2"}, {"v2"})
        say("The webhook refuses to decommission v1 while it still takes half of the traffic")
        self.run("delete", "deployment", "echo-v1", "-n", "echo", expect_failure=True)
        self.step("values-5: all traffic to v2", ("shift", "echo", "--weight", "100"), {"v2"}, {"v2"})
        self.step("values-6: v2 is the primary; v1 is decommissioned", ("finish", "echo"), {"v2"}, {"v2"})
        self.progressive()
        say("Every service kubectl-canary manages")
        self.run("canary", "list", "-A")

    def progressive(self) -> None:
        """podinfo with users sending: a healthy canary shifted step by step, then a failing one aborted."""
        say("Phase 2 with eyes open: podinfo v1, and users sending GET /api/info through both gateway replicas")
        self.run("create", "namespace", "podinfo")
        self.run("canary", "init", "podinfo", "--version", "v1", "--image", PODINFO, "--port", "9898",
                 "--prefix", "/api/info", "-n", "podinfo")
        self.healthy("podinfo")
        self.served("/api/info")
        users = Users(self.gw.urls, HOST, "/api/info", clients=2)
        with users:
            say("A healthy canary v2: shift step by step, each window judged from the gateway's counters")
            self.run("canary", "start", "podinfo", "--version", "v2", "-n", "podinfo")
            self.healthy("podinfo")
            self.run("canary", "shift", "podinfo", "--weight", "100", "--step", "25", "--interval", "10s",
                     "-n", "podinfo", timeout=300)
            self.run("canary", "finish", "podinfo", "-n", "podinfo")
            print(f"users so far: {users.describe()}", flush=True)
            say("A canary v3 answering errors (podinfo --random-error): aborted at its first step, exit 1")
            self.run("canary", "start", "podinfo", "--version", "v3", "--env", "PODINFO_RANDOM_ERROR=true",
                     "-n", "podinfo")
            self.healthy("podinfo")
            before = users.failed
            self.run("canary", "shift", "podinfo", "--weight", "100", "--step", "25", "--interval", "10s",
                     "-n", "podinfo", expect_failure=True, timeout=300)
            print(f"failed requests users saw during the aborted step: {users.failed - before}", flush=True)
        self.run("canary", "status", "podinfo", "-n", "podinfo")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds through the context managers below, so the processes and temp dirs are cleaned up.
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.monotonic()
    try:
        say(f"Tools: kube-apiserver and kubectl {tools.version('k8s')}, etcd {tools.version('etcd')}, "
            f"Gloo CRDs {tools.version('gloo')}, in {tools.cache_dir()}")
        missing = tools.missing()
        if missing:
            print(f"Building {len(missing)} missing item(s) from Go modules; a cold build takes minutes:", flush=True)
            for path in missing:
                print(f"  {path}", flush=True)
        else:
            print("All built already: reusing them.", flush=True)
        tools.ensure_built()  # streams build-tools.sh's progress
        say("Starting etcd, kube-apiserver, kube-controller-manager and the node agent on loopback, "
            "and installing the Gloo Edge CRDs")
        with ControlPlane() as cp:
            crds = cp.install_crds([tools.gloo_crds_dir()])
            print(f"kube-apiserver at {cp.server}; CRDs established: {', '.join(sorted(crds))}", flush=True)
            say(f"Starting gloo {tools.version('gloo')} and Envoy, and the seed's VirtualService")
            gw = Gateway(cp)
            gw.start()
            cp.kubectl("apply", "-f", "-", input=json.dumps(SEED_VS))
            print(f"gateway at {gw.url} (glooctl proxy url)", flush=True)
            say(f"Starting canary-webhook serve (--default-api-group {API_GROUP}) and registering deploy/base's "
                "webhook configurations with its loopback URL and CA")
            with WebhookProcess(cp.kubeconfig, default_api_group=API_GROUP) as hook:
                register(cp, hook)
                print(f"webhook at {hook.url}; RouteTable writes and Deployment deletes now go through it", flush=True)
                try:
                    Demo(cp, gw).workflow()
                finally:
                    say("Stopping the webhook, Envoy, gloo, the node agent and the cluster")
                    gw.stop()
    except KeyboardInterrupt:
        print("\ndemo: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except subprocess.CalledProcessError as err:
        print(f"demo: {err}\n{err.stderr or ''}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # ControlPlaneError, WebhookError, a failed build: their message says what
        print(f"demo: {err}", file=sys.stderr)
        return 1
    say(f"Done in {time.monotonic() - started:.0f} s; everything it started has been stopped and removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
