"""The node agent of the e2e cluster: it does the kubelet's part for one Node, with local processes
in Linux namespaces instead of containers. It registers the Node and renews its Lease (so the node
lifecycle controller keeps it Ready), binds every unscheduled pod to it (there is no scheduler), and
runs each pod as podrun.py describes: a network namespace with its own address 10.244.0.N
(Endpoints refuse loopback addresses) reached through a veth pair, volumes from ConfigMaps and
Secrets, each container's env, command and args resolved as the kubelet resolves them, its own mount
namespace with its volumeMounts, probes, restarts, and a status reported as the kubelet reports it.
On deletion it runs preStop hooks, stops the processes (SIGTERM, SIGKILL after the grace period),
frees the address and removes the pod, as the kubelet does.

Images cannot be fetched here, so it runs only the images images.py knows: `hashicorp/http-echo`
(the stand-in `http_echo.py`) and `ghcr.io/stefanprodan/podinfo` (podinfo built from its Go module by
build-tools.sh); a pod with any other image stays Pending with the container waiting in
`ErrImagePull`, a message saying why, and a Warning event. Resources, securityContext,
serviceAccountName and the like are accepted and not enforced.

Run as `python nodeagent.py --kubeconfig F [--node NAME]` (as root); it logs one line per action to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

if not __package__:  # run as a script: import the helpers as the tests do, from the package `e2e`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "e2e"

from .images import catalogue, image_repo
from .podrun import PodRun
from .podstatus import now
from .sandbox import NODE_IP, MountPoints, forward_pods

POD_NETWORK = ipaddress.ip_network("10.244.0.0/24")
LEASE_SECONDS = 40


def log(msg: str) -> None:
    print(f"[nodeagent {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Agent:
    def __init__(self, node: str, logdir: Path) -> None:
        self.node = node
        self.logdir = logdir
        self.api = client.ApiClient()
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.images = catalogue()
        self.mount_points = MountPoints(log)
        self.runs: dict[str, PodRun] = {}  # pod uid -> run
        self.lock = threading.Lock()
        self.free_ips = [str(ip) for ip in POD_NETWORK.hosts() if str(ip) != NODE_IP]
        self.log = log
        if forward_pods():
            log("forwarding between pods on (the node is a network namespace of its own)")

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

    def handle(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        run = self.runs.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            if run is not None:
                run.stop(float(meta.get("deletionGracePeriodSeconds") or 0))
            elif spec.get("nodeName") == self.node:
                self._remove(meta["namespace"], meta["name"], meta["uid"])
            return
        if not spec.get("nodeName"):
            self._bind(meta["namespace"], meta["name"], meta["uid"])
            return
        if spec["nodeName"] != self.node or run is not None:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        unsupported = [c for c in [*(spec.get("initContainers") or []), *spec["containers"]]
                       if image_repo(c["image"]) not in self.images]
        if unsupported:
            self._refuse(pod, unsupported)
            return
        with self.lock:
            ip = self.free_ips.pop(0)
        run = PodRun(pod, ip, self)
        self.runs[meta["uid"]] = run
        run.start()

    def forget(self, uid: str) -> None:
        """A pod deleted at once (grace 0, or its namespace removed): stop what still runs for it."""
        run = self.runs.get(uid)
        if run is not None:
            run.stop(0.0)

    def finished(self, run: PodRun) -> None:
        """A pod's run is over (PodRun calls this): free its address and remove the pod."""
        with self.lock:
            self.free_ips.append(run.ip)
        self.runs.pop(run.uid, None)
        log(f"stopped {run.namespace}/{run.name}")
        self._remove(run.namespace, run.name, run.uid)

    def shutdown(self, signum: int, frame: object) -> None:
        """The agent is stopped: no pod process may outlive it."""
        for run in list(self.runs.values()):
            run.kill_now()
        os._exit(0)

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret or ConfigMap as a dict, None if it does not exist (podenv.Lookup)."""
        read = self.core.read_namespaced_secret if kind == "Secret" else self.core.read_namespaced_config_map
        try:
            obj: dict[str, Any] = self.api.sanitize_for_serialization(read(name, namespace))
            return obj
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        try:
            self.core.patch_namespaced_pod_status(name, namespace, {"status": status})
            return True
        except ApiException as err:
            if err.status != 404:
                log(f"status of {namespace}/{name} failed: {err.status} {err.reason}")
            return False

    def event(self, pod: dict[str, Any], reason: str, message: str, kind: str = "Warning") -> None:
        meta = pod["metadata"]
        try:
            self.core.create_namespaced_event(meta["namespace"], {
                "metadata": {"generateName": f"{meta['name']}."},
                "involvedObject": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                                   "uid": meta["uid"], "apiVersion": "v1"},
                "reason": reason, "type": kind, "source": {"component": "kubelet", "host": self.node},
                "message": message, "firstTimestamp": now(), "lastTimestamp": now(), "count": 1})
        except ApiException as err:
            if err.status not in (403, 404):  # the namespace is going away
                log(f"event for {meta['namespace']}/{meta['name']} failed: {err.status} {err.reason}")
        if kind == "Warning":
            log(f"{meta['namespace']}/{meta['name']}: {reason}: {message}")

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

    def _refuse(self, pod: dict[str, Any], containers: list[dict[str, Any]]) -> None:
        if (pod.get("status") or {}).get("containerStatuses"):
            return  # already said
        meta = pod["metadata"]
        runnable = " and ".join(sorted({i.repo for i in self.images.values()} - {"stefanprodan/podinfo"}))
        statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                     "started": False, "state": {"waiting": {"reason": "ErrImagePull", "message": (
                         f"image {c['image']!r} cannot run on this test node: only {runnable} run here, "
                         "as local stand-ins (no image can be fetched)")}}} for c in containers]
        self.patch_status(meta["namespace"], meta["name"], {
            "phase": "Pending", "hostIP": NODE_IP, "containerStatuses": statuses})
        self.event(pod, "Failed", statuses[0]["state"]["waiting"]["message"])

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
                        self.handle(self.api.sanitize_for_serialization(pod))
                    version = pods.metadata.resource_version
                for event in watch.Watch().stream(self.core.list_pod_for_all_namespaces, resource_version=version,
                                                  timeout_seconds=60, allow_watch_bookmarks=True):
                    if event["type"] == "BOOKMARK":  # the client leaves a bookmark's object a dict
                        version = event["raw_object"]["metadata"]["resourceVersion"]
                        continue
                    obj = event["object"]
                    version = obj.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.handle(self.api.sanitize_for_serialization(obj))
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
