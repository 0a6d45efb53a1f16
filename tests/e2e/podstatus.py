"""A pod's status as the kubelet reports it, from the state of its containers: phase, conditions
(PodReadyToStartContainers, Initialized, ContainersReady, Ready, PodScheduled, with a
lastTransitionTime that moves only when the status does) and one containerStatus per container and
init container (state, lastState, ready, started, restartCount).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerState:
    """What the node knows about one container (the runtime part lives in podrun.Container)."""

    name: str
    image: str
    image_id: str
    waiting: tuple[str, str] | None = ("ContainerCreating", "")  # reason, message
    running_since: str = ""
    container_id: str = ""
    terminated: dict[str, Any] | None = None  # the current state when it will not be restarted
    last_terminated: dict[str, Any] | None = None
    restarts: int = 0
    ready: bool = False
    started: bool = False

    def status(self) -> dict[str, Any]:
        if self.running_since:
            state: dict[str, Any] = {"running": {"startedAt": self.running_since}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out: dict[str, Any] = {"name": self.name, "image": self.image, "imageID": self.image_id,
                               "ready": self.ready, "started": self.started, "restartCount": self.restarts,
                               "state": state, "lastState": {}}
        if self.container_id:
            out["containerID"] = self.container_id
        if self.last_terminated is not None:
            out["lastState"] = {"terminated": self.last_terminated}
        return out


@dataclass
class Conditions:
    """Pod conditions with stable lastTransitionTimes."""

    since: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, time)

    def set(self, kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
        status = "True" if ok else "False"
        if self.since.get(kind, ("", ""))[0] != status:
            self.since[kind] = (status, now())
        cond = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": self.since[kind][1]}
        if not ok and reason:
            cond.update(reason=reason, message=message)
        return cond


def phase(containers: list[ContainerState]) -> str:
    """Pending while a container has never run; Succeeded/Failed once all ended for good; else Running."""
    if all(c.terminated is not None for c in containers):
        return "Succeeded" if all(c.terminated and c.terminated.get("exitCode") == 0 for c in containers) \
            else "Failed"
    if any(not c.running_since and c.last_terminated is None and c.terminated is None for c in containers):
        return "Pending"
    return "Running"


def _init_done(c: ContainerState) -> bool:
    return (c.terminated or {}).get("exitCode") == 0 or c.started


def pod_status(containers: list[ContainerState], conditions: Conditions, sandbox_ready: bool, pod_ip: str,
               host_ip: str, start_time: str, inits: list[ContainerState] | None = None) -> dict[str, Any]:
    inits = inits or []
    unready = [c.name for c in containers if not c.ready]
    message = f"containers with unready status: [{' '.join(unready)}]"
    pending = [c.name for c in inits if not _init_done(c)]
    conds = [conditions.set("PodReadyToStartContainers", sandbox_ready),
             conditions.set("Initialized", not pending, "ContainersNotInitialized",
                            f"containers with incomplete status: [{' '.join(pending)}]"),
             conditions.set("Ready", not unready, "ContainersNotReady", message),
             conditions.set("ContainersReady", not unready, "ContainersNotReady", message),
             conditions.set("PodScheduled", True)]
    failed_init = any((c.terminated or {}).get("exitCode", 0) != 0 for c in inits)
    status: dict[str, Any] = {"phase": "Failed" if failed_init else "Pending" if pending else phase(containers),
                              "conditions": conds, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                              "startTime": start_time, "containerStatuses": [c.status() for c in containers]}
    if inits:
        status["initContainerStatuses"] = [c.status() for c in inits]
    if sandbox_ready:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    return status
