"""The node agent of the e2e cluster: it does the kubelet's part for one Node, with local processes
instead of containers. It registers the Node and renews its Lease (so the node lifecycle controller
keeps it Ready), binds every unscheduled pod to it (there is no scheduler), gives each pod its own
address on the network namespace's `lo` (10.244.0.N/32: Endpoints refuse loopback addresses), runs
the pod's container and reports the pod Running at once and Ready only once it listens on its
ports. On deletion it stops the process (SIGTERM, SIGKILL after the grace period), frees the address
and removes the pod, as the kubelet does. Containers that exit are restarted, with restartCount.

Images cannot be fetched here, so the only image it runs is `hashicorp/http-echo`, through the
stand-in `http_echo.py` with the container's own args; a pod with any other image stays Pending
with the container waiting in `ErrImagePull`, a message saying why, and a Warning event.

Run as `python nodeagent.py --kubeconfig F [--node NAME]`; it logs one line per action to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

STANDIN = Path(__file__).resolve().with_name("http_echo.py")
SUPPORTED_IMAGE = "hashicorp/http-echo"
POD_NETWORK = ipaddress.ip_network("10.244.0.0/24")
NODE_IP = "10.244.0.1"
LEASE_SECONDS = 40
MAX_GRACE = 30.0


def log(msg: str) -> None:
    print(f"[nodeagent {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_repo(image: str) -> str:
    """`docker.io/hashicorp/http-echo:1.0@sha256:...` -> `hashicorp/http-echo`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass
class PodRun:
    """What the agent runs for one pod (one process per container; the seed's pods have one)."""

    namespace: str
    name: str
    uid: str
    ip: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    stopping: bool = False


class Agent:
    def __init__(self, node: str, logdir: Path) -> None:
        self.node = node
        self.logdir = logdir
        self.core = client.CoreV1Api()
        self.coord = client.CoordinationV1Api()
        self.runs: dict[str, PodRun] = {}  # pod uid -> run
        self.lock = threading.Lock()
        self.free_ips = [str(ip) for ip in POD_NETWORK.hosts() if str(ip) != NODE_IP]

    # ---- the Node and its heartbeat ------------------------------------------------------------

    def register(self) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node, "labels": {
            "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux"}}}
        try:
            self.core.create_node(body)
        except ApiException as err:
            if err.status != 409:
                raise
        self._node_status()
        log(f"node {self.node} registered")

    def _node_status(self) -> None:
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "node agent is running",
                 "lastHeartbeatTime": now(), "lastTransitionTime": now()}
        capacity = {"cpu": "2", "memory": "8Gi", "pods": "250"}
        self.core.patch_node_status(self.node, {"status": {
            "conditions": [ready], "addresses": [{"type": "InternalIP", "address": NODE_IP},
                                                 {"type": "Hostname", "address": self.node}],
            "capacity": capacity, "allocatable": capacity,
            "nodeInfo": {"kubeletVersion": "nodeagent", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "local-process://1", "kernelVersion": os.uname().release,
                         "osImage": "e2e", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""}}})

    def heartbeat(self) -> None:
        while True:
            try:
                self._renew_lease()
                self._node_status()
            except Exception as err:  # a passing API error: the next beat tries again
                log(f"heartbeat failed: {err}")
            time.sleep(10)

    def _renew_lease(self) -> None:
        body = {"metadata": {"name": self.node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": self.node, "leaseDurationSeconds": LEASE_SECONDS,
                         "renewTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        try:
            self.coord.patch_namespaced_lease(self.node, "kube-node-lease", body)
        except ApiException as err:
            if err.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", body)

    # ---- pods ----------------------------------------------------------------------------------

    def handle(self, pod: Any) -> None:
        meta, spec = pod.metadata, pod.spec
        if meta.deletion_timestamp is not None:
            run = self.runs.get(meta.uid)
            if run is not None and not run.stopping:
                run.stopping = True
                grace = min(float(meta.deletion_grace_period_seconds or 0), MAX_GRACE)
                threading.Thread(target=self._stop, args=(run, grace), daemon=True).start()
            elif run is None and spec.node_name == self.node:
                self._remove(meta.namespace, meta.name, meta.uid)
            return
        if not spec.node_name:
            self._bind(meta.namespace, meta.name, meta.uid)
            return
        if spec.node_name != self.node or meta.uid in self.runs:
            return
        if pod.status.phase in ("Succeeded", "Failed"):
            return
        self._start(pod)

    def forget(self, uid: str) -> None:
        """A pod deleted at once (grace 0, or its namespace removed): stop what still runs for it."""
        run = self.runs.get(uid)
        if run is not None and not run.stopping:
            run.stopping = True
            threading.Thread(target=self._stop, args=(run, 0.0), daemon=True).start()

    def shutdown(self, signum: int, frame: object) -> None:
        """The agent is stopped: no pod process may outlive it."""
        for run in list(self.runs.values()):
            for proc in run.procs.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            subprocess.run(["ip", "addr", "del", f"{run.ip}/32", "dev", "lo"], check=False, capture_output=True)
        os._exit(0)

    def _bind(self, namespace: str, name: str, uid: str) -> None:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}}
        try:
            # _preload_content=False: the client cannot deserialize the Status this call returns.
            self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
            log(f"bound {namespace}/{name}")
        except ApiException as err:
            if err.status not in (404, 409):
                log(f"binding {namespace}/{name} failed: {err.status} {err.reason}")

    def _start(self, pod: Any) -> None:
        meta = pod.metadata
        unsupported = [c for c in pod.spec.containers if image_repo(c.image) != SUPPORTED_IMAGE]
        if unsupported:
            self._refuse(pod, unsupported)
            return
        with self.lock:
            ip = self.free_ips.pop(0)
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)
        run = PodRun(meta.namespace, meta.name, meta.uid, ip)
        self.runs[meta.uid] = run
        for container in pod.spec.containers:
            self._spawn(run, container)
        log(f"started {meta.namespace}/{meta.name} on {ip}")
        self._report(pod, run, ready=False)
        threading.Thread(target=self._watch_run, args=(pod, run), daemon=True).start()

    def _spawn(self, run: PodRun, container: Any) -> None:
        args = [*(container.command or [])[1:], *(container.args or [])]
        out = open(self.logdir / f"{run.namespace}_{run.name}_{container.name}.log", "ab")  # noqa: SIM115
        with out:
            run.procs[container.name] = subprocess.Popen(
                [sys.executable, str(STANDIN), *args], env=dict(os.environ, POD_IP=run.ip),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def _refuse(self, pod: Any, containers: list[Any]) -> None:
        meta = pod.metadata
        statuses = [{"name": c.name, "image": c.image, "imageID": "", "ready": False, "restartCount": 0,
                     "started": False, "state": {"waiting": {"reason": "ErrImagePull", "message": (
                         f"image {c.image!r} cannot run on this test node: only {SUPPORTED_IMAGE} runs here, "
                         "as a local stand-in (no image can be fetched)")}}} for c in containers]
        if pod.status.container_statuses:
            return  # already said
        self.core.patch_namespaced_pod_status(meta.name, meta.namespace, {"status": {
            "phase": "Pending", "hostIP": NODE_IP, "containerStatuses": statuses}})
        self.core.create_namespaced_event(meta.namespace, {
            "metadata": {"generateName": f"{meta.name}."},
            "involvedObject": {"kind": "Pod", "namespace": meta.namespace, "name": meta.name, "uid": meta.uid,
                               "apiVersion": "v1"},
            "reason": "Failed", "type": "Warning", "source": {"component": "nodeagent", "host": self.node},
            "message": statuses[0]["state"]["waiting"]["message"], "firstTimestamp": now(), "lastTimestamp": now(),
            "count": 1})
        log(f"refused {meta.namespace}/{meta.name}: unsupported image {containers[0].image}")

    def _watch_run(self, pod: Any, run: PodRun) -> None:
        """Report Ready once every declared port accepts connections; restart containers that exit."""
        ports = [p.container_port for c in pod.spec.containers for p in (c.ports or []) if p.protocol in
                 (None, "TCP")]
        ready = False
        while not run.stopping:
            listening = all(_accepts(run.ip, port) for port in ports)
            exited = [(name, proc) for name, proc in run.procs.items() if proc.poll() is not None]
            for name, proc in exited:
                log(f"{run.namespace}/{run.name}: container {name} exited {proc.returncode}; restarting")
                run.restarts[name] = run.restarts.get(name, 0) + 1
                container = next(c for c in pod.spec.containers if c.name == name)
                self._spawn(run, container)
            now_ready = listening and not exited
            if now_ready != ready:
                ready = now_ready
                self._report(pod, run, ready=ready)
            time.sleep(0.2)

    def _report(self, pod: Any, run: PodRun, ready: bool) -> None:
        started = pod.status.start_time or now()
        flag = "True" if ready else "False"
        conditions = [{"type": t, "status": s, "lastTransitionTime": now()} for t, s in (
            ("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", flag), ("Ready", flag))]
        statuses = [{"name": c.name, "image": c.image, "imageID": f"local-process://{SUPPORTED_IMAGE}",
                     "containerID": f"local-process://{run.procs[c.name].pid}", "ready": ready, "started": True,
                     "restartCount": run.restarts.get(c.name, 0),
                     "state": {"running": {"startedAt": now()}}} for c in pod.spec.containers]
        try:
            self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": {
                "phase": "Running", "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}], "podIP": run.ip,
                "podIPs": [{"ip": run.ip}], "startTime": started if isinstance(started, str) else
                started.strftime("%Y-%m-%dT%H:%M:%SZ"), "conditions": conditions, "containerStatuses": statuses}})
            log(f"{run.namespace}/{run.name} {'Ready' if ready else 'Running, not ready'}")
        except ApiException as err:
            if err.status != 404:
                log(f"status of {run.namespace}/{run.name} failed: {err.status} {err.reason}")

    def _stop(self, run: PodRun, grace: float) -> None:
        """SIGTERM the containers, SIGKILL what is left after the grace period, then delete the pod."""
        for proc in run.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in run.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        subprocess.run(["ip", "addr", "del", f"{run.ip}/32", "dev", "lo"], check=False, capture_output=True)
        with self.lock:
            self.free_ips.append(run.ip)
        self.runs.pop(run.uid, None)
        log(f"stopped {run.namespace}/{run.name}")
        self._remove(run.namespace, run.name, run.uid)

    def _remove(self, namespace: str, name: str, uid: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, namespace, body=client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)))
        except ApiException as err:
            if err.status not in (404, 409):
                log(f"deleting {namespace}/{name} failed: {err.status} {err.reason}")

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.shutdown)
        self.register()
        threading.Thread(target=self.heartbeat, daemon=True).start()
        version = ""
        while True:
            try:
                if not version:
                    pods = self.core.list_pod_for_all_namespaces()
                    for pod in pods.items:
                        self.handle(pod)
                    version = pods.metadata.resource_version
                for event in watch.Watch().stream(self.core.list_pod_for_all_namespaces, resource_version=version,
                                                  timeout_seconds=60, allow_watch_bookmarks=True):
                    obj = event["object"]
                    version = obj.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.handle(obj)
                    elif event["type"] == "DELETED":
                        self.forget(obj.metadata.uid)
            except ApiException as err:
                if err.status == 410:  # expired: list again
                    version = ""
                else:
                    log(f"watch failed: {err.status} {err.reason}")
                    time.sleep(1)
            except Exception as err:  # connection dropped: watch again from where we were
                log(f"watch interrupted: {err}")
                time.sleep(0.5)


def _accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", default="canary-e2e-node")
    parser.add_argument("--log-dir", default=".")
    args = parser.parse_args()
    config.load_kube_config(args.kubeconfig)
    Agent(args.node, Path(args.log_dir)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
