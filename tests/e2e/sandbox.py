"""Pod sandboxes and containers as local processes, in Linux namespaces like a container runtime's:

- a pod gets its own network and UTS namespaces, held by a "pause" process (`unshare --net --uts`,
  then `sleep infinity`): `lo`, its hostname (the pod's name, as the kubelet sets it) and `eth0`,
  one end of a veth pair whose other end (`pod<N>`) sits in the e2e network namespace with the node's
  address 10.244.0.1 and a /32 route to the pod's address; a pod reaches the node and the other pods
  (the node forwards, when it is a network namespace of its own: `forward_pods()`). So every container of the pod shares
  the pod's address and `localhost`, `:9898` means the pod's own address, and two pods can both
  listen on 9898; the e2e run (Envoy, tests) reaches pods through their routes.
- a container is a process that joins the pod's namespaces (`nsenter --net --uts`) and gets a mount
  namespace of its own (`unshare --mount --propagation private`), where each volume's directory is
  bind-mounted onto its mountPath (read-only where the volume is). Mount points that do not exist on
  the node are created (empty; the mounts are invisible outside the container) and left in place.

No root file system of its own: the program runs from the node's file system (images.py maps
the image's programs to built binaries). Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from .podvolumes import Mount

NODE_IP = "10.244.0.1"
POD_NETWORK = "10.244.0.0/24"


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


UNSHARE, NSENTER, MOUNT, SH, IP, HOSTNAME, SLEEP = (
    _tool(n) for n in ("unshare", "nsenter", "mount", "sh", "ip", "hostname", "sleep"))

# Runs inside the container's fresh mount namespace: SRC DST ro|rw ... -- PROGRAM ARGS...
_MOUNT_AND_EXEC = f"""set -e
while [ "$1" != -- ]; do
  {MOUNT} --bind "$1" "$2"
  if [ "$3" = ro ]; then {MOUNT} -o remount,bind,ro "$2"; fi
  shift 3
done
shift
exec "$@"
"""


def _ip(commands: str, pid: int | None = None) -> None:
    cmd = [IP, "-batch", "-"] if pid is None else [NSENTER, f"--target={pid}", "--net", IP, "-batch", "-"]
    proc = subprocess.run(cmd, input=commands, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip -batch failed ({commands!r}): {proc.stderr.strip()}")


def forward_pods() -> bool:
    """Let pods reach each other through the node, but only when the node is a network namespace of
    its own (tests/e2e/netns.sh: nothing but `lo` and pods' veths): never switch on forwarding for
    the machine itself."""
    links = subprocess.run([IP, "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    if any(name != "lo" and not re.fullmatch(r"pod\d+", name) for name in names):
        return False
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    return True


def hostname(pod_name: str, spec_hostname: str | None) -> str:
    """The pod's hostname as the kubelet makes it: spec.hostname or the name, cut to 63 characters."""
    return (spec_hostname or pod_name)[:63].rstrip("-.")


class PodSandbox:
    """The network and UTS namespaces of one pod, with its address."""

    def __init__(self, ip: str, host: str) -> None:
        self.ip = ip
        self.veth = f"pod{ip.rsplit('.', 1)[1]}"
        with contextlib.suppress(RuntimeError):  # a leftover of a killed agent
            _ip(f"link del {self.veth}\n")
        script = f'{HOSTNAME} "$1" && {IP} link set lo up && echo up && exec {SLEEP} infinity'
        self.pause = subprocess.Popen([UNSHARE, "--net", "--uts", "--", SH, "-c", script, "pause", host],
                                      stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.pause.stdout is not None
        if self.pause.stdout.readline() != b"up\n":
            self.pause.wait()
            raise RuntimeError(f"pod sandbox for {host} did not start (exit {self.pause.returncode})")
        self.pid = self.pause.pid
        try:
            _ip(f"link add {self.veth} type veth peer name eth0 netns {self.pid}\n"
                f"addr add {NODE_IP}/32 dev {self.veth}\nlink set {self.veth} up\n")
            # Only the pod network is routed: no default route, so a lookup of anything else (a DNS
            # server, a reverse lookup in Python's HTTPServer) fails at once instead of timing out.
            _ip(f"addr add {ip}/32 dev eth0\nlink set eth0 up\nroute add {NODE_IP} dev eth0\n"
                f"route add {POD_NETWORK} via {NODE_IP}\n", self.pid)
            _ip(f"route add {ip}/32 dev {self.veth}\n")
        except RuntimeError:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Kill the pause process (the namespaces go with the last process in them) and the veth pair."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pause.pid, signal.SIGKILL)
        self.pause.wait()
        with contextlib.suppress(RuntimeError):
            _ip(f"link del {self.veth}\n")


class MountPoints:
    """Creates the mount points that do not exist on the node. They stay (empty directories, or empty
    files for a subPath file): another node agent on this machine (another test run) may have
    containers mounted on the same path, and removing a directory detaches the mounts on it in every
    mount namespace."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._lock = threading.Lock()
        self._log = log

    def make(self, mounts: Sequence[Mount]) -> None:
        with self._lock:
            for m in mounts:
                target = Path(m.target)
                for p in [*reversed(target.parents), target]:
                    if p.exists() or p.is_symlink():
                        continue
                    if p == target and m.source.is_file():
                        p.touch()
                    else:
                        p.mkdir()
                    self._log(f"made mount point {p} on the node (it stays)")


def launch(sandbox: PodSandbox, argv: Sequence[str], env: Mapping[str, str], cwd: Path, mounts: Sequence[Mount],
           out: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start a container's process in the pod's namespaces with its own mount namespace."""
    binds = [x for m in mounts for x in (str(m.source), m.target, "ro" if m.read_only else "rw")]
    cmd = [NSENTER, f"--target={sandbox.pid}", "--net", "--uts", "--", UNSHARE, "--mount", "--propagation",
           "private", "--", SH, "-c", _MOUNT_AND_EXEC, "container", *binds, "--", *argv]
    return subprocess.Popen(cmd, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def exec_in(pid: int, argv: Sequence[str], env: Mapping[str, str], cwd: Path,
            timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run a command in a running container's namespaces (an exec probe, `kubectl exec`'s part)."""
    cmd = [NSENTER, f"--target={pid}", "--net", "--uts", "--mount", f"--wd={cwd}", "--", *argv]
    return subprocess.run(cmd, env=dict(env), capture_output=True, timeout=timeout, check=False)
