"""Production serving: the Flask app under gunicorn (`webhook.serving.worker.FrontWorker`, keep-alive, TLS 1.2+),
and the probes and metrics on a plain-HTTP port of their own (`webhook.serving.probes`).

TLS comes from `tls.crt`/`tls.key` in a directory: gunicorn asks its `ssl_context` hook for a context on
every new connection, and `webhook.tls.reload.CertReloader` answers, rebuilding it when the files change.

The app is created in the worker, after gunicorn forks (no preload): the watch caches run threads,
which do not survive a fork. One worker with several threads is the default: each worker holds its
own caches and watch connections, the decisions are short and CPU-bound (the GIL serialises them
anyway), and threads overlap the socket I/O. Scale out with replicas rather than workers.

The worker is gunicorn's gthread with a front stage (`webhook.serving.worker`): TLS handshakes and whole
requests are read in its event loop, so slow or idle clients hold no thread; excess reviews are shed
with a 503 at once; SIGTERM drains (readiness fails, answers close their connections) before the
in-flight requests finish. Timings that matter for a rollout: after the Deployment's 5 s preStop sleep,
SIGTERM starts the drain (`--drain-seconds`, default 3, at most MAX_DRAIN_SECONDS), and the drain and
the requests still in flight after it end within GRACEFUL_SECONDS (15) of SIGTERM: 20 s of the pod's
30 s grace period.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kubectl_canary.core.errors import UsageError
from webhook import logs
from webhook.tls.reload import CertReloader

log = logging.getLogger("canary_webhook.server")

# kube-apiserver's webhook client keeps idle connections for 90 s; holding ours longer means the
# client, not the server, closes them, so a request never races a server-side close.
KEEPALIVE_SECONDS = 120
# gunicorn's master kills a worker this long after SIGTERM; the worker finishes in-flight requests
# (each bounded by the worker's REQUEST_SECONDS and IO_SECONDS) and exits a second before.
GRACEFUL_SECONDS = 15
# The longest drain `serve` accepts: the requests in flight after it keep at least 4 s of the graceful
# timeout (which counts from SIGTERM, the drain included).
MAX_DRAIN_SECONDS = GRACEFUL_SECONDS - 5
# Connections a worker holds (idle ones cost a file descriptor and a few kB, no thread).
MAX_CONNECTIONS = 10_000


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn running `make_app()` in each worker with the given settings."""

    def __init__(self, make_app: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.make_app = make_app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.make_app()


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def options(
    host: str, port: int, cert_dir: Path, workers: int, threads: int, cleanup: Path | None = None,
    max_queued: int | None = None, drain_seconds: float | None = None, request_seconds: float | None = None,
    probe_port: int | None = None,
) -> dict[str, Any]:
    """gunicorn settings for serving over TLS from `cert_dir` (and removing `cleanup` on exit); a worker
    holds at most `max_queued` reviews waiting for a thread (and sheds earlier, see `webhook.serving.worker`) and
    drains for `drain_seconds` after SIGTERM; a connection has `request_seconds` to deliver a request (None:
    the workers' defaults). /healthz, /readyz and /metrics are served over plain HTTP on `probe_port` (None:
    none), a listener of their own (`webhook.serving.probes`), bound here, in the foreground."""
    from webhook.serving import probes
    from webhook.serving.worker import FrontWorker

    # Read by the workers, which gunicorn forks from this process.
    if max_queued is not None:
        FrontWorker.max_queued = max_queued
    if drain_seconds is not None:  # checked by `serve` (0 to MAX_DRAIN_SECONDS)
        FrontWorker.drain_seconds = drain_seconds
    if request_seconds is not None:
        FrontWorker.request_seconds = request_seconds
    reloader = CertReloader(cert_dir)
    reloader.context()  # fail now, in the foreground, if the pair does not load at all
    if probe_port is not None:
        try:
            FrontWorker.probe_socket = probes.bind(host, probe_port)
        except OSError as err:
            where, why = bind_address(host, probe_port), os.strerror(err.errno) if err.errno else err
            raise UsageError(f"--probe-port {probe_port}: cannot listen on {where} ({why})") from err

    def ssl_context(conf: Any, default_factory: Any) -> ssl.SSLContext:
        return reloader.context()

    def on_exit(server: Any) -> None:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)

    found: dict[str, Any] = {
        "bind": [bind_address(host, port)],
        "worker_class": "webhook.serving.worker.FrontWorker",
        "workers": workers,
        "threads": threads,
        "worker_connections": MAX_CONNECTIONS,
        "keepalive": KEEPALIVE_SECONDS,
        "timeout": 30,
        "graceful_timeout": GRACEFUL_SECONDS,
        "certfile": str(reloader.cert_file),
        "keyfile": str(reloader.key_file),
        "ssl_context": ssl_context,
        "accesslog": None,  # the app logs one JSON line per request
        "errorlog": "-",
        "logconfig_dict": logs.GUNICORN_LOGGING,
        "loglevel": "info",
        "proc_name": "canary-webhook",
        "control_socket_disable": True,  # several servers may run side by side (tests, benchmarks)
        "on_exit": on_exit,
    }
    if os.path.isdir("/dev/shm"):
        found["worker_tmp_dir"] = "/dev/shm"  # heartbeat file off a possibly slow or read-only disk
    return found


def serve(make_app: Callable[[], Flask], opts: dict[str, Any]) -> None:
    """Run gunicorn in the foreground until it is signalled to stop."""
    Server(make_app, opts).run()
