"""Running the real `canary-webhook serve` process for tests: free port, wait for /healthz, always stop.

A server started here has no drain after SIGTERM (`QUICK_DRAIN`) unless asked for one: a test that is not
about stopping would otherwise wait out the shipped 3 s drain when it ends. The tests of the stop itself
pass `drain=None` (the shipped default) or the drain they are about.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_command() -> list[str]:
    """The installed console script next to this interpreter (the venv's), else the module."""
    script = Path(sys.executable).with_name("canary-webhook")
    if script.exists():
        return [str(script)]
    found = shutil.which("canary-webhook")
    return [found] if found else [sys.executable, "-c", "from webhook.cli import main; main()"]


QUICK_DRAIN = 0.0


def session(ca: Path | str) -> requests.Session:
    """A keep-alive client that trusts only `ca` (and ignores REQUESTS_CA_BUNDLE and proxies)."""
    found = requests.Session()
    found.trust_env = False
    found.verify = str(ca)
    return found


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the master and its workers
        proc.wait(timeout=5)


def _wait_healthy(running: Running, ca: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise RuntimeError(f"canary-webhook exited with {running.proc.returncode}:\n{running.log_text()}")
        try:
            with session(ca) as client:
                if client.get(f"{running.url}/healthz", timeout=2).status_code == 200:
                    return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"canary-webhook did not answer /healthz within {timeout}s:\n{running.log_text()}")


@contextmanager
def serve(args: Sequence[str], log: Path, ca: Path | None = None, timeout: float = 30,
          drain: float | None = QUICK_DRAIN) -> Iterator[Running]:
    """Run `canary-webhook serve --host 127.0.0.1 --port P [--drain-seconds DRAIN] ARGS` until the block ends.

    `ca` is the CA file to trust while waiting for /healthz; for --self-signed pass None and read the
    CA path from the log (`ca_from_log`) once it is up. `drain` None: the shipped default drain.
    """
    port = free_port()
    drains = [] if drain is None else ["--drain-seconds", str(drain)]
    cmd = [*webhook_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *drains, *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Running(proc, f"https://127.0.0.1:{port}", port, log)
    try:
        if ca is None:
            ca = _wait_for_ca(running, timeout)
        _wait_healthy(running, ca, timeout)
        yield running
    finally:
        _stop(proc)


def ca_from_log(text: str) -> Path | None:
    for line in text.splitlines():
        if "self-signed certificate; CA at " in line:
            return Path(line.split("CA at ", 1)[1].strip())
    return None


def _wait_for_ca(running: Running, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ca_from_log(running.log_text())
        if found is not None:
            return found
        if running.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"canary-webhook printed no CA path:\n{running.log_text()}")
