"""The probe listener: /healthz, /readyz and /metrics over plain HTTP on a port of their own.

The kubelet probes a pod on a new connection each time, and a probe that is not answered within its
timeoutSeconds fails it: on the admission port, behind a flood of reviews and TLS handshakes, probes
went unanswered and an overloaded webhook was restarted, which turned a burst of writes into an outage.
So, as controller-runtime does (its health probe address, conventionally :8081), the probes and the
metrics have a listener of their own (`serve --probe-port`, default `PROBE_PORT`) with a thread of its
own in each worker: no amount of admission traffic queues in front of them. The socket is bound in
gunicorn's master (`bind`), so it fails in the foreground and outlives a worker's restart; each worker
accepts on it (`start`). Connections to it are few (the kubelet, a scraper): at most `MAX_CONNECTIONS`
are answered at once, each within `IO_SECONDS`, and one over that is closed at once.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from webhook.health import TEXT, Answer, Health

log = logging.getLogger("canary_webhook.probes")

# controller-runtime's conventional health probe port (HealthProbeBindAddress ":8081").
PROBE_PORT: Final = 8081
MAX_CONNECTIONS: Final = 16
IO_SECONDS: Final = 5.0


class _Handler(BaseHTTPRequestHandler):
    server: ProbeServer
    timeout = IO_SECONDS  # a client that sends or reads nothing is dropped (StreamRequestHandler)

    def do_GET(self) -> None:
        try:
            found = self.server.health.answer(self.path.split("?", 1)[0])
        except Exception:
            log.exception("answering a probe failed", extra={"fields": {"path": self.path[:100]}})
            found = Answer(500, TEXT, b"internal error; see the webhook's logs\n")
        self.send_response(found.status)
        self.send_header("Content-Type", found.content_type)
        self.send_header("Content-Length", str(len(found.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(found.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a probe every few seconds is not worth a log line; failures are logged above


class ProbeServer(ThreadingHTTPServer):
    """HTTP/1.0 (one request per connection, as the kubelet probes) on a socket already listening."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, health: Health) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.health = health
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the bound: refused at once, not queued
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def bind(host: str, port: int) -> socket.socket:
    """The probe port's listening socket (in gunicorn's master; its workers inherit it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=64)


def start(sock: socket.socket, health: Health) -> ProbeServer:
    """Answer probes on `sock` from a thread of its own (a daemon: it ends with the worker)."""
    sock.setblocking(False)  # several workers accept on it: one that loses the race must not block in accept
    server = ProbeServer(sock, health)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="probes", daemon=True).start()
    return server
