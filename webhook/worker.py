"""The gunicorn worker: a front stage that reads requests without a thread, a bounded thread pool that
decides them, load shedding, and a graceful stop that loses no call.

gunicorn's gthread worker gives each new connection a pool thread for its TLS handshake and request:
eight clients that send a byte every few seconds, or a thousand idle connections, hold every thread and
no review is answered. `FrontWorker` keeps gthread's pool, parser and WSGI handling but does the TLS
handshake and reads the whole request (head and body, `webhook.framing`) in its event loop, with
non-blocking sockets, and submits it to the pool only when it is all there. A connection gets
`REQUEST_SECONDS` (`request_seconds`) from its first byte (or its accept) to deliver a request, and is
closed otherwise;
an idle kept-alive one waits in the loop for gunicorn's `keepalive`, costing no thread.

Overload is shed, not queued into timeouts: a review that would wait for a thread longer than
`MAX_WAIT` (the reviews ahead of it, over the number finished in the last second) is answered 503 with
`Retry-After: 1` at once by the loop, and so is any past `max_queued` waiting. So the queue holds what
the server finishes in MAX_WAIT: the accepted reviews keep their latency, the server stays busy at its
capacity, and when the load drops nothing is shed. Probes and metrics are not served here but on a
listener and thread of their own (`webhook.probes`), which the worker starts.

On SIGTERM the worker drains: /readyz answers 503, every answer carries `Connection: close`, it keeps
accepting and keeps idle kept-alive connections open for `drain_seconds` (`serve --drain-seconds`, default
`DRAIN_SECONDS`; a request already on its way is served, not reset), then stops accepting, lets in-flight
requests finish and exits within gunicorn's graceful timeout, which counts from SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import ssl
import sys
import threading
import time
from concurrent import futures
from functools import partial
from typing import Any, Final

from gunicorn import http, util
from gunicorn import sock as gsock
from gunicorn.workers import gthread

from webhook import probes
from webhook.framing import COMPLETE, MORE, REFUSE, Framer, Framing
from webhook.rate import Rate

# From a connection's first byte (or its accept) to its whole request, handshake included.
REQUEST_SECONDS: Final = 10.0
# Blocking reads and writes of a pool thread (a body read after dispatch, the answer to a slow reader).
IO_SECONDS: Final = 10.0
# After SIGTERM: keep accepting and keep idle connections open this long, answering with Connection: close
# (the default of `serve --drain-seconds`).
DRAIN_SECONDS: Final = 3.0
# A closed connection's unread input is drained (so the peer gets the answer, not a reset) this long.
LINGER_SECONDS: Final = 2.0
# A review waiting longer than this for a thread means the server does not keep up (see above).
MAX_WAIT: Final = 0.5
SWITCH_SECONDS: Final = 0.001
RUNNING: Final = 2
# Bodies are read up to the app's limit (kube-apiserver: 3 MiB objects, two in an UPDATE).
MAX_BODY: Final = 7 * 1024 * 1024
SHED: Final = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
               b"Content-Length: %d\r\nConnection: %s\r\n\r\n%s")
SHED_BODY: Final = b'{"error":"canary-webhook is overloaded; retry","code":503}'
REFUSED: Final = {
    413: b"Content Too Large", 431: b"Request Header Fields Too Large",
}


class Serving:
    """What the worker tells the app's /readyz: why it should get no traffic now, or None."""

    draining = False

    def not_ready(self) -> str | None:
        return "shutting down" if self.draining else None


SERVING: Final = Serving()


class FrontConn(gthread.TConn):  # type: ignore[misc]
    """A connection in the front stage: its bytes so far, its framing and its deadline."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.buffer = bytearray()
        self.framer = Framer(cfg.limit_request_line + cfg.limit_request_field_size * 4 + 4096, MAX_BODY)
        self.handshaken = False
        self.continued = False
        self.deadline = time.monotonic() + REQUEST_SECONDS
        self.waiting = False  # kept alive, between requests


class FrontWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker with a thread-free front stage, load shedding and draining."""

    max_queued = 1000  # reviews waiting for a thread, at most (memory); set from `serve`
    drain_seconds = DRAIN_SECONDS  # after SIGTERM (see above); set from `serve`
    request_seconds = REQUEST_SECONDS  # set from `serve` (shorter only in tests)
    probe_socket: socket.socket | None = None  # the probe listener's, bound in the master by `serve`

    def init_process(self) -> None:
        # The loop reads, sheds and answers probes; CPU-bound decisions must not keep it from the GIL for
        # long: a shorter switch interval (default 5 ms) and at most RUNNING decisions at once (a thread
        # waiting on the semaphore does not compete for the GIL; the others stay for slow writes).
        sys.setswitchinterval(SWITCH_SECONDS)
        self.running = threading.BoundedSemaphore(RUNNING)
        self.finished = Rate()  # reviews finished in the last second
        self.front: dict[FrontConn, None] = {}
        self.lingering: dict[socket.socket, float] = {}
        self.busy = 0
        super().init_process()

    # -- the front stage ----------------------------------------------------------------------------

    def accept(self, listener: Any) -> bool:
        """Take one connection into the front stage; False when none was waiting."""
        try:
            client, addr = listener.accept()
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return False
        if self.nr_conns >= self.worker_connections and not self._evict():
            util.close(client)
            return True
        client.setblocking(False)
        wrapped = client
        if self.cfg.is_ssl:
            try:
                wrapped = gsock.ssl_context(self.cfg).wrap_socket(
                    client, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=True)
            except (OSError, ValueError, ssl.SSLError):
                util.close(client)
                return True
        self.nr_conns += 1
        conn = FrontConn(self.cfg, wrapped, addr, listener.getsockname())
        conn.deadline = time.monotonic() + self.request_seconds
        conn.handshaken = not self.cfg.is_ssl
        self._to_front(conn)
        return True

    def _evict(self) -> bool:
        """Make room by closing the oldest connection that has sent nothing yet (an idle scan)."""
        for conn in self.front:
            if not conn.buffer:
                self._drop(conn)
                return True
        return False

    def _to_front(self, conn: FrontConn) -> None:
        self.front[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))

    def _leave_front(self, conn: FrontConn) -> None:
        self.front.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: FrontConn) -> None:
        self._leave_front(conn)
        self.nr_conns -= 1
        util.close(conn.sock)

    def on_readable(self, conn: FrontConn, _fileobj: Any = None) -> None:
        try:
            if not conn.handshaken:
                conn.sock.do_handshake()
                conn.handshaken = True
            while len(conn.buffer) <= MAX_BODY + 65536:
                data = conn.sock.recv(65536)
                if not data:
                    self._drop(conn)
                    return
                if conn.waiting:  # the first byte of the next request: it has request_seconds from now
                    conn.waiting, conn.deadline = False, time.monotonic() + self.request_seconds
                conn.buffer += data
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError, ValueError):
            self._drop(conn)
            return
        if conn.handshaken and conn.buffer:
            self._framed(conn, conn.framer.frame(conn.buffer))

    def _framed(self, conn: FrontConn, framing: Framing) -> None:
        if framing.state == MORE:
            if framing.expects_continue and not conn.continued:
                conn.continued = True
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self._leave_front(conn)
        if framing.state == REFUSE:
            self._refuse(conn, framing.status)
            return
        if self._overloaded():
            self._shed(conn, framing)
            return
        self._submit(conn)

    def _overloaded(self) -> bool:
        threads: int = self.cfg.threads
        queued: int = self.busy - threads
        if queued <= 0:
            return False
        # What a new review would wait: the reviews ahead of it over the rate they are finished at.
        return queued >= self.max_queued or queued > max(threads, self.finished.count() * MAX_WAIT)

    def _send(self, conn: FrontConn, data: bytes) -> bool:
        try:
            return bool(conn.sock.send(data) == len(data))
        except (OSError, ssl.SSLError, ValueError):
            return False

    def _shed(self, conn: FrontConn, framing: Framing) -> None:
        """Answer 503 from the loop; keep the connection when the request was read to its end exactly."""
        whole = framing.state == COMPLETE and framing.size == len(conn.buffer)
        keep = whole and self.alive
        answer = SHED % (len(SHED_BODY), b"keep-alive" if keep else b"close", SHED_BODY)
        if self._send(conn, answer) and keep:
            conn.buffer.clear()
            conn.framer.reset()
            conn.continued = False
            self._wait_next(conn)
        else:
            self._close(conn)

    def _refuse(self, conn: FrontConn, status: int) -> None:
        """Answer a request too large to read from the loop, and close (what follows is not read)."""
        what, limit = (b"body", MAX_BODY) if status == 413 else (b"request head", conn.framer.max_head)
        body = b'{"error":"the %s is more than the %d bytes allowed","code":%d}' % (what, limit, status)
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        self._send(conn, head % (status, REFUSED[status], len(body)) + body)
        self._close(conn)

    def _submit(self, conn: FrontConn) -> None:
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.initialized = conn.data_ready = True
        conn.parser.unreader.unread(bytes(conn.buffer))
        conn.buffer.clear()
        conn.framer.reset()
        conn.continued = False
        conn.sock.settimeout(IO_SECONDS)
        self.busy += 1
        done = self.tpool.submit(self.handle, conn)
        done.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def _wait_next(self, conn: FrontConn) -> None:
        """Back to the loop between requests, for gunicorn's keepalive (less while draining)."""
        conn.sock.setblocking(False)
        conn.waiting = True
        conn.deadline = time.monotonic() + (self.cfg.keepalive if self.alive else self.drain_seconds)
        self._to_front(conn)
        pending = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if pending:  # a pipelined request, already read
            conn.waiting, conn.deadline = False, time.monotonic() + self.request_seconds
            conn.buffer += pending
            self._framed(conn, conn.framer.frame(conn.buffer))

    def murder_front(self, now: float, idle_too: bool = False) -> None:
        """Close the connections past their deadline (and, draining is over, idle kept-alive ones)."""
        for conn in [c for c in self.front if c.deadline <= now or (idle_too and c.waiting)]:
            self._drop(conn)
        for sock, until in list(self.lingering.items()):
            if until <= now:
                self._unlinger(sock)

    # -- the pool's side ----------------------------------------------------------------------------

    def handle(self, conn: FrontConn) -> bool:
        """One request from the buffered bytes (HTTP/1.1 only: the TLS context offers no h2)."""
        req = None
        try:
            req = next(conn.parser)
            if not req:
                return False
            with self.running:
                keep = self.handle_request(req, conn)
            return bool(self._keepalive_after(conn, keep))
        except http.errors.NoMoreData:
            pass
        except StopIteration:
            pass
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass  # the client stopped reading or sending within IO_SECONDS
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except Exception as err:
            self.handle_error(req, conn.sock, conn.client, err)
        return False

    def finish_request(self, conn: FrontConn, fs: futures.Future[bool]) -> None:
        self.busy -= 1
        self.finished.add()
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        if keep:
            self._wait_next(conn)
        else:
            self._close(conn)

    def _close(self, conn: FrontConn) -> None:
        """Close without blocking the loop: half-close, then drain what the peer still sends, briefly."""
        self._leave_front(conn)
        self.nr_conns -= 1
        raw = conn.sock
        try:
            raw.setblocking(False)
            raw.shutdown(socket.SHUT_WR)  # an SSLSocket drops its TLS state here; what follows is raw TCP
        except (OSError, ValueError):
            util.close(raw)
            return
        self.lingering[raw] = time.monotonic() + LINGER_SECONDS
        self.poller.register(raw, selectors.EVENT_READ, self._linger_readable)

    def _linger_readable(self, raw: socket.socket) -> None:
        try:
            if raw.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._unlinger(raw)

    def _unlinger(self, raw: socket.socket) -> None:
        self.lingering.pop(raw, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(raw)
        util.close(raw)

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        if self.probe_socket is not None:  # self.wsgi is loaded by now: the app's Health
            probes.start(self.probe_socket, probes.health_of(self.wsgi))
        self.poller.register(self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks)
        self.set_accept_enabled(True)
        while self.alive:
            self._tick()
            if not self.is_parent_alive():
                break
        SERVING.draining = True
        self.log.info("draining for %g s: %d connections, %d requests in flight", self.drain_seconds,
                      len(self.front), self.busy)
        stopped = time.monotonic()
        drain_end = stopped + self.drain_seconds
        for conn in self.front:
            conn.deadline = min(conn.deadline, drain_end)
        while time.monotonic() < drain_end and self.is_parent_alive():
            self._tick(timeout=max(min(drain_end - time.monotonic(), 0.5), 0.0))
        # Past the drain no new connection is expected (the Service's endpoints dropped the pod during the
        # preStop sleep): close the listeners, so a late one is refused at once rather than left waiting.
        self.set_accept_enabled(False)
        for listener in self.sockets:
            while self.accept(listener):  # those already connected are served, not reset by the close
                pass
            listener.close()
        self.murder_front(time.monotonic(), idle_too=True)
        # gunicorn's master kills the worker at graceful_timeout after SIGTERM; stop a second before.
        deadline = stopped + self.cfg.graceful_timeout - 1
        while (self.busy or self.front or self.lingering) and time.monotonic() < deadline:
            self._tick(timeout=0.2)
            self.murder_front(time.monotonic(), idle_too=True)
        for conn in list(self.front):
            self._drop(conn)
        for raw in list(self.lingering):
            self._unlinger(raw)
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()

    def _tick(self, timeout: float = 0.5) -> None:
        self.notify()
        self.wait_for_and_dispatch_events(timeout=timeout)
        self.murder_front(time.monotonic())
