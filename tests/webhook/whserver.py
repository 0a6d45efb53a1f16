"""Running the real `canary-webhook serve` process for tests: free ports (admission and probes), wait for
/healthz on the probe port, always stop.

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
    return [found] if found else [sys.executable, "-c", "from webhook.cli.main import main; main()"]


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
    probe_port: int = 0

    @property
    def probe_url(self) -> str:
        """The plain-HTTP listener of /healthz, /readyz and /metrics (`serve --probe-port`)."""
        return f"http://{self.url.removeprefix('https://').rsplit(':', 1)[0]}:{self.probe_port}"

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


def _wait_healthy(running: Running, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise RuntimeError(f"canary-webhook exited with {running.proc.returncode}:\n{running.log_text()}")
        try:
            with session("") as client:
                if client.get(f"{running.probe_url}/healthz", timeout=2).status_code == 200:
                    return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"canary-webhook did not answer /healthz within {timeout}s:\n{running.log_text()}")


def embedded(request_seconds: float) -> list[str]:
    """A command line for `serve` built from the same parts, its connections given `request_seconds` to deliver
    a request instead of the shipped REQUEST_SECONDS (`webhook.cli.serve.Embedding`; the console script has no
    such option)."""
    code = ("from webhook.cli.main import cli; from webhook.cli.serve import Embedding; "
            f"cli.main(obj=Embedding(request_seconds={request_seconds!r}), prog_name='canary-webhook')")
    return [sys.executable, "-c", code]


@contextmanager
def serve(args: Sequence[str], log: Path, timeout: float = 30, drain: float | None = QUICK_DRAIN,
          command: Sequence[str] = ()) -> Iterator[Running]:
    """Run `canary-webhook serve --host HOST --port P --probe-port Q [--drain-seconds DRAIN] ARGS` until the block
    ends (HOST 127.0.0.1 unless ARGS name one: `--host` and the ports may be given in ARGS, as a manifest does).

    It is up once /healthz answers on the probe port (with --self-signed, read its CA with `ca_from_log`).
    `drain` None: the shipped default drain. `command`: what runs before `serve` (default: the console script).
    """
    given = {opt: args[i + 1] for i, opt in enumerate(args[:-1]) if opt in ("--host", "--port", "--probe-port")}
    where = {"--host": "127.0.0.1", "--port": str(free_port()), "--probe-port": str(free_port()), **given}
    drains = [] if drain is None else ["--drain-seconds", str(drain)]
    defaults = [word for opt, value in where.items() if opt not in given for word in (opt, value)]
    cmd = [*(command or webhook_command()), "serve", *defaults, *drains, *args]
    host, port, probe_port = where["--host"], int(where["--port"]), int(where["--probe-port"])
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Running(proc, f"https://{host}:{port}", port, log, probe_port)
    try:
        _wait_healthy(running, timeout)
        yield running
    finally:
        _stop(proc)


def ca_from_log(text: str) -> Path | None:
    for line in text.splitlines():
        if "self-signed certificate; CA at " in line:
            return Path(line.split("CA at ", 1)[1].strip())
    return None
