"""Production serving: the Flask app under gunicorn (`webhook.worker.FrontWorker`, keep-alive, TLS 1.2+),
and the probes and metrics on a plain-HTTP port of their own (`webhook.probes`).

TLS comes from `tls.crt`/`tls.key` in a directory. gunicorn asks its `ssl_context` hook for a
context on every new connection; `CertReloader` answers with a cached context and rebuilds it
when the files change (mtime, size or inode: a Secret volume swaps a symlink), so a rotated pair
is served without a restart. A pair that does not load (a key written before its certificate)
keeps the previous context until the files are consistent.

The app is created in the worker, after gunicorn forks (no preload): the watch caches run threads,
which do not survive a fork. One worker with several threads is the default: each worker holds its
own caches and watch connections, the decisions are short and CPU-bound (the GIL serialises them
anyway), and threads overlap the socket I/O. Scale out with replicas rather than workers.

The worker is gunicorn's gthread with a front stage (`webhook.worker`): TLS handshakes and whole
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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kubectl_canary.core.errors import UsageError
from webhook import logs
from webhook.certs import CERT_FILE, KEY_FILE

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


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context for the pair: TLS 1.2 or newer, HTTP/1.1 (no client certificates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    context.set_alpn_protocols(["http/1.1"])
    return context


class CertReloader:
    """The SSLContext for the current files in a certificate directory, rebuilt when they change."""

    def __init__(self, cert_dir: Path) -> None:
        self.cert_file = Path(cert_dir) / CERT_FILE
        self.key_file = Path(cert_dir) / KEY_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._failed: tuple[Any, ...] | None = None
        self._context: ssl.SSLContext | None = None

    def _files_stamp(self) -> tuple[Any, ...]:
        stats = [os.stat(p) for p in (self.cert_file, self.key_file)]
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats)

    def context(self) -> ssl.SSLContext:
        """The context to serve with now (raises only when no pair has ever loaded)."""
        try:
            stamp = self._files_stamp()
        except OSError as err:
            if self._context is None:
                raise
            log.warning("certificate files unreadable (%s); serving the previous certificate", err)
            return self._context
        if stamp == self._stamp or stamp == self._failed:
            assert self._context is not None
            return self._context
        with self._lock:
            if stamp != self._stamp:
                self._load(stamp)
        assert self._context is not None
        return self._context

    def _load(self, stamp: tuple[Any, ...]) -> None:
        try:
            context = tls_context(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError, ValueError) as err:
            if self._context is None:
                raise
            self._failed = stamp
            log.warning("new certificate pair in %s does not load (%s); serving the previous one",
                        self.cert_file.parent, err)
            return
        if self._context is not None:
            log.info("certificate in %s changed; serving the new one", self.cert_file.parent)
        self._context, self._stamp, self._failed = context, stamp, None


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
    holds at most `max_queued` reviews waiting for a thread (and sheds earlier, see `webhook.worker`) and
    drains for `drain_seconds` after SIGTERM; a connection has `request_seconds` to deliver a request (None:
    the workers' defaults). /healthz, /readyz and /metrics are served over plain HTTP on `probe_port` (None:
    none), a listener of their own (`webhook.probes`), bound here, in the foreground."""
    from webhook import probes
    from webhook.worker import FrontWorker

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
        "worker_class": "webhook.worker.FrontWorker",
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
