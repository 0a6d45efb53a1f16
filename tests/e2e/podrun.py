"""One pod on the node, run the way the kubelet runs it, by a thread of its own (PodRun):

1. the sandbox: the pod's address and namespaces (sandbox.py);
2. its volumes, materialised in the pod's directory (podvolumes.py); a missing ConfigMap or Secret
   leaves every container waiting in `ContainerCreating`, with a `FailedMount` event, until it exists;
   they are refreshed every few seconds, as the kubelet refreshes them (it takes about a minute);
3. its init containers, one after the other to completion (a sidecar, restartPolicy Always, only
   until it has started), then its containers. For each: its environment and command line resolved
   (podenv.py; a missing reference means `CreateContainerConfigError` and another try a second
   later), its volumes mounted, its process started; its startup, readiness and liveness probes
   running (probes.py). A container without a readinessProbe is ready once it runs and accepts
   connections on each TCP port it declares (the kubelet says ready at once; a process here takes a
   moment to listen, which a real image does not). A container that exits, or whose liveness probe
   fails, is restarted (restartPolicy Always and OnFailure), after a back-off of 0, 1, 2, 4, 8, 10,
   10... seconds (the kubelet's is 10 s doubling to 5 min) during which it waits in `CrashLoopBackOff`;
4. its status, reported whenever it changes (podstatus.py);
5. on deletion: preStop hooks (exec, httpGet), SIGTERM, SIGKILL after the grace period, then the
   sandbox and volumes go and the pod is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import images, podenv, podvolumes, probes, sandbox
from .podstatus import Conditions, ContainerState, now, pod_status

MAX_GRACE = 30.0


@dataclass
class Container:
    spec: dict[str, Any]
    image: images.Image
    state: ContainerState
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    probers: dict[str, probes.Prober] = field(default_factory=dict)
    retry_at: float = 0.0
    killing: bool = False
    listening: bool = False


class PodRun(threading.Thread):
    def __init__(self, pod: dict[str, Any], ip: str, agent: Any) -> None:
        meta = pod["metadata"]
        super().__init__(daemon=True, name=f"pod-{meta['namespace']}/{meta['name']}")
        self.pod, self.ip, self.agent = pod, ip, agent
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir: Path = agent.logdir / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        pod.setdefault("status", {}).update(podIP=ip, podIPs=[{"ip": ip}], hostIP=sandbox.NODE_IP,
                                            hostIPs=[{"ip": sandbox.NODE_IP}])
        inits = pod["spec"].get("initContainers") or []
        self.inits = [self._container(c, agent.images, "PodInitializing" if i else "ContainerCreating")
                      for i, c in enumerate(inits)]
        self.containers = [self._container(c, agent.images, "PodInitializing" if inits else "ContainerCreating")
                           for c in pod["spec"]["containers"]]
        self.conditions = Conditions()
        self.start_time = pod["status"].get("startTime") or now()
        self.sandbox: sandbox.PodSandbox | None = None
        self.volumes: dict[str, Path] | None = None
        self.volumes_at = 0.0
        self.wake = threading.Event()
        self.grace: float | None = None  # set when the pod is to stop
        self.said: dict[str, str] = {}  # event reason -> the last message sent with it
        self.last_status: dict[str, Any] = {}

    @staticmethod
    def _container(spec: dict[str, Any], known: dict[str, images.Image], waiting: str) -> Container:
        repo = images.image_repo(spec["image"])
        state = ContainerState(spec["name"], spec["image"], f"local-process://{repo}", waiting=(waiting, ""))
        return Container(spec, known[repo], state)

    def _all(self) -> list[Container]:
        return [*self.inits, *self.containers]

    # ---- what the agent calls ------------------------------------------------------------------

    def stop(self, grace: float) -> None:
        if self.grace is None:
            self.grace = min(grace, MAX_GRACE)
            self.wake.set()

    def kill_now(self) -> None:
        """The agent itself stops: no process may outlive it."""
        for c in self._all():
            if c.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
        if self.sandbox is not None:
            self.sandbox.destroy()

    # ---- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while self.grace is None:
                try:
                    self._sync()
                except Exception as err:  # one pod's trouble must not stop the node; try again
                    self.agent.log(f"{self.namespace}/{self.name}: {type(err).__name__}: {err}")
                    self.wake.wait(1.0)
                self.wake.wait(0.2)
                self.wake.clear()
            self._terminate(self.grace)
        finally:
            self.agent.finished(self)

    def _sync(self) -> None:
        if self.sandbox is None:
            self.sandbox = sandbox.PodSandbox(self.ip, sandbox.hostname(self.name, self.pod["spec"].get("hostname")))
            self.agent.log(f"sandbox of {self.namespace}/{self.name} on {self.ip}")
        self._volumes()
        if self.volumes is not None and self._inits_done():
            for c in self.containers:
                self._step(c)
        self._report()

    def _inits_done(self) -> bool:
        """Run the init containers one after the other; a sidecar (restartPolicy Always) keeps running."""
        for c in self.inits:
            sidecar = c.spec.get("restartPolicy") == "Always"
            if c.state.terminated is not None and c.state.terminated.get("exitCode") == 0:
                continue
            self._step(c, init=not sidecar)
            if not (sidecar and c.state.started) and (c.state.terminated or {}).get("exitCode") != 0:
                return False
        return True

    def _volumes(self) -> None:
        if self.volumes is not None and time.monotonic() < self.volumes_at:
            return
        try:
            self.volumes = podvolumes.materialise(self.pod, self.dir / "volumes", self.agent.lookup)
            self.volumes_at = time.monotonic() + 5
        except podenv.ConfigError as err:
            self.volumes_at = time.monotonic() + 1
            if self.volumes is None:
                self._event("FailedMount", f"MountVolume.SetUp failed: {err}")

    def _step(self, c: Container, init: bool = False) -> None:
        if c.proc is None:
            if c.state.terminated is None and time.monotonic() >= c.retry_at:
                self._create(c)
            return
        code = c.proc.poll()
        if code is not None:
            self._exited(c, code, init)
            return
        c.state.container_id = f"local-process://{c.proc.pid}"
        live = c.probers.get("liveness")
        if live is not None and live.passed is False and not c.killing:
            self._event("Unhealthy", f"Liveness probe failed: {live.message}")
            self._event("Killing", f"Container {c.spec['name']} failed liveness probe, will be restarted", "Normal")
            self._kill(c, float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)))
        startup = c.probers.get("startup")
        c.state.started = startup is None or startup.passed is True
        ready = c.probers.get("readiness")
        if ready is None and not c.listening:
            c.listening = all(_accepts(self.ip, p["containerPort"]) for p in c.spec.get("ports") or []
                              if p.get("protocol", "TCP") == "TCP")
        c.state.ready = c.state.started and not c.killing and (
            ready.passed is True if ready is not None else c.listening)

    def _create(self, c: Container) -> None:
        assert self.sandbox is not None and self.volumes is not None
        host = sandbox.hostname(self.name, self.pod["spec"].get("hostname"))
        try:
            env = {**c.image.env, "HOSTNAME": host}
            if c.image.repo == "hashicorp/http-echo":
                env["POD_IP"] = self.ip  # the stand-in binds it (http_echo.py)
            env.update(podenv.environment(self.pod, c.spec, self.agent.lookup))
            command, args = podenv.command_line(c.spec, env)
            argv = images.argv(c.image, command, args, env)
            mounts = podvolumes.mounts(c.spec, self.pod, self.volumes)
        except (podenv.ConfigError, images.ProgramError) as err:
            reason = "CreateContainerConfigError" if isinstance(err, podenv.ConfigError) else "RunContainerError"
            c.state.waiting = (reason, str(err))
            c.retry_at = time.monotonic() + 1
            self._event("Failed", f"Error: {err}")
            return
        self.agent.mount_points.make(mounts)
        with open(self.agent.logdir / f"{self.namespace}_{self.name}_{c.spec['name']}.log", "ab") as out:
            c.proc = sandbox.launch(self.sandbox, argv, env, c.image.workdir, mounts, out)
        c.env, c.killing, c.listening = env, False, False
        c.state.waiting, c.state.running_since = None, now()
        c.state.container_id = f"local-process://{c.proc.pid}"
        self._event("Started", f"Started container {c.spec['name']}", "Normal")
        for kind in ("startup", "readiness", "liveness"):
            if c.spec.get(f"{kind}Probe"):
                prober = probes.Prober(kind, c.spec[f"{kind}Probe"], c.spec, self.ip, self._exec_for(c),
                                       lambda p: self._probed(c, p))
                c.probers[kind] = prober
                prober.start()

    def _probed(self, c: Container, prober: probes.Prober) -> None:
        if prober.kind == "readiness" and not prober.last_ok:
            self._event("Unhealthy", f"Readiness probe failed: {prober.message}")
        self.wake.set()

    def _exec_for(self, c: Container) -> Callable[[list[str], float], subprocess.CompletedProcess[bytes]]:
        def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
            assert c.proc is not None
            cmd = [*images.program(c.image, argv[0], c.env), *argv[1:]]
            return sandbox.exec_in(c.proc.pid, cmd, c.env, c.image.workdir, timeout)
        return run

    def _exited(self, c: Container, code: int, init: bool = False) -> None:
        for prober in c.probers.values():
            prober.stop()
        c.probers = {}
        finished = {"exitCode": code if code >= 0 else 128 - code, "reason": "Completed" if code == 0 else "Error",
                    "startedAt": c.state.running_since, "finishedAt": now(), "containerID": c.state.container_id}
        assert c.proc is not None
        c.proc = None
        c.state.running_since, c.state.ready, c.state.started = "", False, False
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if (code == 0 and init) or policy == "Never" or (policy == "OnFailure" and code == 0):
            c.state.terminated = finished
            c.state.ready = init and code == 0  # the kubelet calls a completed init container ready
            return
        c.state.last_terminated = finished
        c.state.restarts += 1
        delay = 0.0 if c.state.restarts == 1 else min(2.0 ** (c.state.restarts - 2), 10.0)
        c.retry_at = time.monotonic() + delay
        c.state.waiting = ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={c.spec['name']} "
                           f"pod={self.name}_{self.namespace}({self.uid})") if delay else ("ContainerCreating", "")
        self.agent.log(f"{self.namespace}/{self.name}: container {c.spec['name']} exited {code}; restart "
                       f"{c.state.restarts} in {delay:g}s")

    def _kill(self, c: Container, grace: float) -> None:
        """SIGTERM now, SIGKILL after the grace period (in the background; the loop sees the exit)."""
        c.killing = True
        proc = c.proc
        assert proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

        def finish() -> None:
            try:
                proc.wait(timeout=min(grace, MAX_GRACE))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            self.wake.set()
        threading.Thread(target=finish, daemon=True).start()

    def _terminate(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        running = [c for c in self._all() if c.proc is not None]
        hooks = [threading.Thread(target=self._pre_stop, args=(c, grace), daemon=True) for c in running]
        for t in hooks:
            t.start()
        for t in hooks:
            t.join(max(0.0, deadline - time.monotonic()))
        for c in running:
            for prober in c.probers.values():
                prober.stop()
            assert c.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGTERM)
        for c in running:
            assert c.proc is not None
            try:
                c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
                c.proc.wait()
        if self.sandbox is not None:
            self.sandbox.destroy()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pre_stop(self, c: Container, grace: float) -> None:
        hook = (c.spec.get("lifecycle") or {}).get("preStop") or {}
        if "exec" in hook:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError, images.ProgramError):
                self._exec_for(c)(list(hook["exec"]["command"]), grace)
        elif "httpGet" in hook:
            probes.check({"httpGet": hook["httpGet"], "timeoutSeconds": grace}, c.spec, self.ip, self._exec_for(c))
        elif "sleep" in hook:
            time.sleep(min(float(hook["sleep"]["seconds"]), grace))

    # ---- reporting -----------------------------------------------------------------------------

    def _report(self) -> None:
        status = pod_status([c.state for c in self.containers], self.conditions, self.sandbox is not None,
                            self.ip, sandbox.NODE_IP, self.start_time, [c.state for c in self.inits])
        if status != self.last_status and self.agent.patch_status(self.namespace, self.name, status):
            ready = next(cond["status"] for cond in status["conditions"] if cond["type"] == "Ready")
            if ready != next((cond["status"] for cond in self.last_status.get("conditions", [])
                              if cond["type"] == "Ready"), None):
                self.agent.log(f"{self.namespace}/{self.name} {status['phase']}, Ready={ready}")
            self.last_status = status

    def _event(self, reason: str, message: str, kind: str = "Warning") -> None:
        if self.said.get(reason) == message:
            return  # said already (the kubelet counts repeats; nobody here reads the count)
        self.said[reason] = message
        self.agent.event(self.pod, reason, message, kind)


def _accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False

