"""A rolling restart of the webhook through the real kube-apiserver loses no RouteTable write (issue 12).

The webhook is registered as deploy/base ships it, through its Service (`clientConfig.service`, failure
policy Fail), not through a URL: kube-apiserver runs with `--enable-aggregator-routing`, so it reaches a
Service at a ready endpoint of its EndpointSlices, chosen per new connection, as kube-proxy routes a
ClusterIP in a cluster, and it keeps using the connections it has, as it does in a cluster. Two
`canary-webhook serve` processes play the old and the new pod, each on an address of its own on this
network namespace's `lo` (10.244.1.N, beside the node agent's 10.244.0.N pods) and the shipped port,
with one certificate for the Service's name, as one Secret mounted in both pods. This test plays the
kubelet and the EndpointSlice controller of a Deployment's rolling update (maxUnavailable 0): the new
pod starts and becomes ready (its /readyz, the readiness probe) and joins the Service's endpoints; the
old pod is deleted, so its endpoint turns terminating (not ready) and it gets SIGTERM on its main process,
then leaves the endpoints once it has exited. Both orders of the last two steps are run: the endpoint
change first (what the shipped 5 s preStop sleep makes all but certain; here SIGTERM follows at once,
without the sleep), and SIGTERM first with the endpoint change a second later (a slow controller, or no
preStop sleep), so that kube-apiserver keeps sending the draining process reviews, on its kept-alive
connections and on new ones. With the drain disabled (DRAIN_SECONDS = 0 in webhook/serving/worker.py), the
second order refuses about a fifth of the writes ("broken pipe", "connection refused"); the first does
not, since kube-apiserver moves to the new pod's connections as soon as it has them.

Meanwhile writers create and update RouteTables through kube-apiserver in a loop, bounded in count and
time. Shown: every write succeeded; the old process exited by itself with code 0 within the shipped
grace period (less its preStop sleep); it held kube-apiserver's connections when it began to drain
(and, in the second order, answered reviews while it drained); the new one answered reviews; and the
stored objects carry what our /mutate adds (the apiGroup label, weights normalised to 100).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubectl_canary.core import names, objects
from kubectl_canary.core.objects import Workload

from .controlplane import ControlPlane
from .webhook import (
    BASE,
    WebhookProcess,
    destination,
    make_certs,
    register,
    service_configurations,
    shipped_configurations,
    unregister,
)

Obj = dict[str, Any]

OLD_POD, NEW_POD = "10.244.1.1", "10.244.1.2"
SLICE = "canary-webhook-e2e"
REQUESTS_LOGGER = "canary_webhook.requests"
DEFAULT_API_GROUP = "example"
# Written weights and what /mutate makes of them (the shares, in whole percent, adding up to 100).
WEIGHTS: dict[tuple[int, int], list[int]] = {(1, 3): [25, 75], (1, 1): [50, 50], (1, 4): [20, 80], (3, 1): [75, 25]}
WRITERS = 4
NAMES_PER_WRITER = 5  # coprime with len(WEIGHTS): each name goes through every pair of weights
# Bounds of the write loop: writes per writer, and seconds for the whole restart.
MAX_WRITES = 600
MAX_SECONDS = 120.0
# Writes that must end before the restart begins (kube-apiserver then holds connections to the old pod),
# and after the old process has exited (the new one serves alone).
WRITES_BEFORE, WRITES_AFTER = 20, 20
# The two orders in which a deleted pod's endpoint change and its SIGTERM can come (the EndpointSlice
# controller and the kubelet both act on the deletion): the endpoint first, as the shipped preStop sleep
# makes all but certain; or SIGTERM first, the endpoint ENDPOINTS_LAG seconds later (a slow controller, or
# no preStop sleep), while kube-apiserver still opens new connections to the old pod.
ENDPOINTS_FIRST, SIGTERM_FIRST = "endpoints-then-sigterm", "sigterm-then-endpoints"
ENDPOINTS_LAG = 1.0


# ---- the pods' side: addresses, the Service and its EndpointSlice ---------------------------------------


@contextlib.contextmanager
def pod_address(ip: str) -> Iterator[str]:
    """`ip` on this network namespace's `lo`, as the node agent gives a pod its address."""
    subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True, capture_output=True)
    try:
        yield ip
    finally:
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)


def rendered(control_plane: ControlPlane, kind: str) -> Obj:
    """deploy/base's one object of `kind`, as kustomize renders it."""
    docs = [doc for doc in yaml.safe_load_all(control_plane.kubectl("kustomize", str(BASE)).stdout)
            if doc and doc.get("kind") == kind]
    assert len(docs) == 1, f"deploy/base renders {len(docs)} {kind} objects"
    return docs[0]


def selectorless_service(control_plane: ControlPlane, namespace: str) -> Obj:
    """The shipped Service in `namespace`, without its selector: its endpoints are this test's to write
    (no pods run the webhook's image here, so the EndpointSlice controller would find none)."""
    service = rendered(control_plane, "Service")
    service["metadata"] = {"name": service["metadata"]["name"], "namespace": namespace,
                           "labels": service["metadata"].get("labels", {})}
    del service["spec"]["selector"]
    return service


def endpoint_slice(service: Obj, port: int, endpoints: dict[str, str]) -> Obj:
    """The Service's EndpointSlice with `endpoints` {ip: "ready" | "terminating"}, as the EndpointSlice
    controller writes one for pods that are ready, or deleted and still running."""
    conditions = {"ready": {"ready": True, "serving": True, "terminating": False},
                  "terminating": {"ready": False, "serving": True, "terminating": True}}
    (service_port,) = service["spec"]["ports"]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": SLICE, "namespace": service["metadata"]["namespace"], "labels": {
            "kubernetes.io/service-name": service["metadata"]["name"],
            "endpointslice.kubernetes.io/managed-by": "e2e.kubectl-canary.io"}},
        "addressType": "IPv4",
        "ports": [{"name": service_port["name"], "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": conditions[state]} for ip, state in endpoints.items()],
    }


def container_port(deployment: Obj, port: int | str) -> int:
    """A port of the one container, by number or by name, as the kubelet and the Service resolve it."""
    if isinstance(port, int):
        return port
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def probe_port(deployment: Obj) -> int:
    """Where the kubelet sends the readiness probe (which says when a pod joins the endpoints)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container_port(deployment, container["readinessProbe"]["httpGet"]["port"])


def grace_after_sigterm(deployment: Obj) -> float:
    """The pod's grace period less its preStop sleep: what the kubelet leaves between SIGTERM and SIGKILL."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    return float(pod["terminationGracePeriodSeconds"] - pre_stop)


# ---- the writers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    name: str
    weights: tuple[int, int]
    ended: float
    error: str | None


def route_table(namespace: str, name: str, weights: tuple[int, int]) -> Obj:
    multi = {"destinations": [destination(namespace, "v1", weights[0]), destination(namespace, "v2", weights[1])]}
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"routes": [{"matchers": [{"prefix": f"/{name}"}], "routeAction": {"multi": multi}}]}}


def status_message(body: str | bytes | None) -> str:
    """The message of a kube-apiserver Status body (what kubectl would print), else the body itself."""
    try:
        return str(json.loads(body or "")["message"])[:500]
    except (ValueError, KeyError, TypeError):
        return repr(body)[:500]


class Writers:
    """WRITERS threads, each creating its NAMES_PER_WRITER RouteTables and then updating their weights
    (merge patches of the spec, which the webhook judges), through kube-apiserver, until stopped or
    MAX_WRITES each. Each has its own client (connection pool), as separate controllers would."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.writes: list[Write] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, writer: int) -> None:
        api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(self.kubeconfig)))
        pairs = list(WEIGHTS)
        for i in range(MAX_WRITES):
            if self.stop.is_set():
                return
            name, weights = f"rt-{writer}-{i % NAMES_PER_WRITER}", pairs[i % len(pairs)]
            body = route_table(self.namespace, name, weights)
            error = None
            try:
                if i < NAMES_PER_WRITER:
                    api.create_namespaced_custom_object("gateway.solo.io", "v1", self.namespace, "routetables", body,
                                                        _request_timeout=30)
                else:
                    api.patch_namespaced_custom_object("gateway.solo.io", "v1", self.namespace, "routetables", name,
                                                       {"spec": body["spec"]}, _request_timeout=30)
            except ApiException as err:  # a refusal: kube-apiserver's Status says why
                error = f"HTTP {err.status}: {status_message(err.body)}"
            except Exception as err:  # every refusal or error is counted, none stops the loop
                error = f"{type(err).__name__}: {str(err)[:500]}"
            with self.lock:
                self.writes.append(Write(name, weights, time.monotonic(), error))

    def done(self) -> list[Write]:
        with self.lock:
            return list(self.writes)

    def wait_for(self, count: int, since: float, what: str) -> None:
        """Until `count` writes have ended (succeeded or not) after `since`; bounded by MAX_SECONDS."""
        deadline = time.monotonic() + MAX_SECONDS
        while sum(w.ended > since for w in self.done()) < count:
            assert any(t.is_alive() for t in self.threads), f"{what}: the writers stopped (MAX_WRITES reached)"
            assert time.monotonic() < deadline, f"{what}: fewer than {count} writes in {MAX_SECONDS}s"
            time.sleep(0.05)


# ---- the webhook's request logs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What one webhook process's log shows: the RouteTable reviews of a namespace it answered before and
    after it began draining, and the connections it held when it did (None: it did not drain)."""

    before: list[Obj]
    after: list[Obj]
    connections_at_drain: int | None


DRAINING = re.compile(r"draining for \S+ s: (\d+) connections")  # webhook/serving/worker.py's line on SIGTERM


def served(hook: WebhookProcess, namespace: str) -> Served:
    found = Served([], [], None)
    current, connections = found.before, None
    for line in hook.log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError as err:
            raise AssertionError(f"the webhook logged a line that is not JSON: {line!r}") from err
        draining = DRAINING.match(str(entry.get("message", "")))
        if draining:
            current, connections = found.after, int(draining.group(1))
        elif (entry.get("logger") == REQUESTS_LOGGER and entry.get("namespace") == namespace
              and entry.get("kind") == "RouteTable.gateway.solo.io"):
            current.append(entry)
    return Served(found.before, found.after, connections)


# ---- the test ---------------------------------------------------------------------------------------------


@pytest.fixture
def service(control_plane: ControlPlane, namespace: str) -> Iterator[Obj]:
    """The webhook's Service in this test's namespace; the webhook configurations are removed afterwards
    (failure policy Fail for every RouteTable of the shared cluster)."""
    found = selectorless_service(control_plane, namespace)
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(found))
    yield found
    unregister(control_plane)


@pytest.mark.parametrize("order", [ENDPOINTS_FIRST, SIGTERM_FIRST])
def test_a_rolling_restart_refuses_no_routetable_write(
    control_plane: ControlPlane, namespace: str, service: Obj, tmp_path: Path, order: str
) -> None:
    deployment = rendered(control_plane, "Deployment")
    (target,) = [p["targetPort"] for p in rendered(control_plane, "Service")["spec"]["ports"]]
    port, grace = container_port(deployment, target), grace_after_sigterm(deployment)
    svc_name = f"{service['metadata']['name']}.{namespace}.svc"
    ca_bundle = make_certs(tmp_path / "tls", dns=[svc_name], ips=[OLD_POD, NEW_POD])
    control_plane.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        objects.upstream("echo", namespace),
        *(objects.deployment("echo", namespace, v, Workload(), role) for v, role in (("v1", "primary"),
                                                                                   ("v2", "canary")))]}))

    def pod(ip: str) -> WebhookProcess:
        return WebhookProcess(control_plane.kubeconfig, default_api_group=DEFAULT_API_GROUP, host=ip, port=port,
                              probe_port=probe_port(deployment), tls_dir=tmp_path / "tls")

    def endpoints(**states: str) -> None:
        ips = {"old": OLD_POD, "new": NEW_POD}
        slice_ = endpoint_slice(service, port, {ips[pod]: state for pod, state in states.items()})
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(slice_))

    with pod_address(OLD_POD), pod_address(NEW_POD), pod(OLD_POD) as old, contextlib.closing(pod(NEW_POD)) as new:
        endpoints(old="ready")
        configs = register(control_plane, old, configs=service_configurations(
            shipped_configurations(control_plane), namespace, ca_bundle))
        assert {hook["failurePolicy"] for c in configs for hook in c["webhooks"]
                if "routetables" in str(hook["rules"])} == {"Fail"}, "a refused call must refuse the write"
        old_pid = old.pid
        with Writers(control_plane.kubeconfig, namespace) as writers:
            writers.wait_for(WRITES_BEFORE, 0.0, "before the restart")
            new.start()  # returns once its /readyz answers 200: the readiness probe passed
            new_pid = new.pid
            endpoints(old="ready", new="ready")
            # The old pod deleted: its endpoint turns terminating (not ready, still serving) and it gets SIGTERM.
            if order == ENDPOINTS_FIRST:
                endpoints(old="terminating", new="ready")
            sigterm = time.monotonic()
            old.sigterm()
            if order == SIGTERM_FIRST:
                time.sleep(ENDPOINTS_LAG)
                endpoints(old="terminating", new="ready")
            code = old.exit_code(grace)
            exited = time.monotonic()
            endpoints(new="ready")
            writers.wait_for(WRITES_AFTER, exited, "after the old process exited")
        writes = writers.done()
        old_served, new_served = served(old, namespace), served(new, namespace)
        old_tail = old.log_tail()

    failed = [w for w in writes if w.error]
    assert not failed, (f"{len(failed)} of {len(writes)} RouteTable writes failed during the restart, e.g.:\n"
                        + "\n".join(f"{w.name}: {w.error}" for w in failed[:5]) + f"\nold log:\n{old_tail}")
    assert code == 0, f"the old process exited with {code} after SIGTERM\n{old_tail}"
    assert old_pid != new_pid and new_pid is not None
    # The old process exited by itself (exit_code kills and raises past the grace): nothing of the old pod
    # is left, master and workers alike (no process in its group).
    with pytest.raises(ProcessLookupError):
        os.killpg(old_pid, 0)
    # The restart happened under load: writes ended while the old process drained; it held kube-apiserver's
    # kept-alive connections when it began to (requests on them get `Connection: close`, idle ones are
    # closed when the drain ends: either must cost no write), and both processes answered reviews.
    assert any(sigterm < w.ended < exited for w in writes), "no write ended while the old process drained"
    assert old_served.before and new_served.before, f"reviews: old {old_served}, new {new_served}"
    assert old_served.connections_at_drain, f"the old process drained no connection of kube-apiserver\n{old_tail}"
    if order == SIGTERM_FIRST:  # kube-apiserver still sent it reviews while it drained: each one was answered
        assert old_served.after, f"the old process answered no review while it drained\n{old_tail}"
    # What is stored went through /mutate: each RouteTable has the label and its last weights normalised.
    last = {w.name: w.weights for w in writes}
    assert len(last) == WRITERS * NAMES_PER_WRITER
    stored = json.loads(control_plane.kubectl("get", "routetables", "-n", namespace, "-o", "json").stdout)["items"]
    found = {rt["metadata"]["name"]: ((rt["metadata"].get("labels") or {}).get(names.API_GROUP),
                                      [d["weight"] for d in rt["spec"]["routes"][0]["routeAction"]["multi"]
                                       ["destinations"]]) for rt in stored}
    assert found == {name: (DEFAULT_API_GROUP, WEIGHTS[weights]) for name, weights in last.items()}
    print(f"\n{len(writes)} writes, 0 failed; old pid {old_pid}: {len(old_served.before)} reviews, then "
          f"{len(old_served.after)} on {old_served.connections_at_drain} connections while draining, exited "
          f"{exited - sigterm:.1f} s after SIGTERM; new pid {new_pid}: {len(new_served.before)} reviews")
