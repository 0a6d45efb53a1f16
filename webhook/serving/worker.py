"""The gunicorn worker: a front stage that reads requests without a thread, a bounded thread pool that
decides them, load shedding, and a graceful stop that loses no call.

gunicorn's gthread worker gives each new connection a pool thread for its TLS handshake and request:
eight clients that send a byte every few seconds, or a thousand idle connections, hold every thread and
no review is answered. `FrontWorker` keeps gthread's pool, parser and WSGI handling but does the TLS
handshake and reads the whole request (head and body, `webhook.serving.framing`) in its event loop, with
non-blocking sockets, and submits it to the pool only when it is all there. A connection gets
`REQUEST_SECONDS` (`request_seconds`, `webhook.serving.connections`) from its first byte (or its accept) to
deliver a request, and is closed otherwise; an idle kept-alive one waits in the loop for gunicorn's
`keepalive`, costing no thread.

Overload is shed, not queued into timeouts: a review that would wait for a thread longer than
`MAX_WAIT` (the reviews ahead of it, over the number finished in the last second) is answered 503 with
`Retry-After: 1` at once by the loop, and so is any past `max_queued` waiting. So the queue holds what
the server finishes in MAX_WAIT: the accepted reviews keep their latency, the server stays busy at its
capacity, and when the load drops nothing is shed. The loop itself must keep up too: every handshake, read
and answer goes through it, and under a flood of new connections (kube-apiserver's client dials one for each
call that finds no idle connection) it needs the GIL hundreds of times a second, each time from the
decision threads. So the switch interval is short (`SWITCH_SECONDS`: a waiting loop gets the GIL within
0.2 ms, not 5); while reviews are queued, a turn of the loop over `MAX_LAG` sheds the reviews read next, so
that the decisions leave the loop the time to catch up; and what a worker holds is bounded, with new
connections refused at once while the loop is behind (`webhook.serving.connections`). Probes and metrics are not
served here but on a listener and thread of their own (`webhook.serving.probes`), which the worker starts.

On SIGTERM the worker drains: /readyz answers 503, every answer carries `Connection: close`, it keeps
accepting and keeps idle kept-alive connections open for `drain_seconds` (`serve --drain-seconds`, default
`DRAIN_SECONDS`; a request already on its way is served, not reset), then stops accepting, lets in-flight
requests finish and exits within gunicorn's graceful timeout, which counts from SIGTERM.
"""

from __future__ import annotations

import errno
import selectors
import socket
import ssl
import sys
import threading
import time
from concurrent import futures
from typing import Any, Final

from gunicorn import http

from webhook.health import health_of
from webhook.serving import probes
from webhook.serving.connections import MAX_BODY, MAX_LAG, Connections, FrontConn
from webhook.serving.framing import COMPLETE, MORE, REFUSE, Framing
from webhook.serving.rate import Rate

# Blocking reads and writes of a pool thread (a body read after dispatch, the answer to a slow reader).
IO_SECONDS: Final = 10.0
# After SIGTERM: keep accepting and keep idle connections open this long, answering with Connection: close
# (the default of `serve --drain-seconds`).
DRAIN_SECONDS: Final = 3.0
# A review waiting longer than this for a thread means the server does not keep up (see above).
MAX_WAIT: Final = 0.5
# How often the connections past their deadline are looked for (a walk over every open connection).
MURDER_SECONDS: Final = 0.1
# The interpreter's switch interval: how soon a thread waiting for the GIL (the loop) gets it (see above).
SWITCH_SECONDS: Final = 0.0002
RUNNING: Final = 2
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


class FrontWorker(Connections):
    """gunicorn's threaded worker with a thread-free front stage, load shedding and draining."""

    max_queued = 1000  # reviews waiting for a thread, at most (memory); set from `serve`
    drain_seconds = DRAIN_SECONDS  # after SIGTERM (see above); set from `serve`
    probe_socket: socket.socket | None = None  # the probe listener's, bound in the master by `serve`

    def init_process(self) -> None:
        # The loop handshakes, reads and sheds; CPU-bound decisions must not keep it from the GIL for long: a
        # shorter switch interval (default 5 ms) and at most RUNNING decisions at once (a thread waiting on
        # the semaphore does not compete for the GIL; the others stay for slow writes).
        sys.setswitchinterval(SWITCH_SECONDS)
        self.running = threading.BoundedSemaphore(RUNNING)
        self.finished = Rate()  # reviews finished in the last second
        self.busy = 0
        self.murdered = 0.0  # when murder_front last looked
        super().init_process()

    # -- the front stage ----------------------------------------------------------------------------

    def on_readable(self, conn: FrontConn, _fileobj: Any = None) -> None:
        if conn not in self.front:
            return  # dropped earlier in this turn of the loop
        try:
            if not conn.handshaken:
                if not self._handshake_begun(conn):
                    self._drop(conn)  # over the bound on handshakes in progress: refused at once
                    return
                conn.sock.do_handshake()
                self._handshake_over(conn)
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
        # What a new review would wait: the reviews ahead of it over the rate they are finished at; and while
        # the loop runs late, the decisions must leave it the GIL to catch up (handshakes, reads, answers).
        return (queued >= self.max_queued or self.lag > MAX_LAG
                or queued > max(threads, self.finished.count() * MAX_WAIT))

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

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        if self.probe_socket is not None:  # self.wsgi is loaded by now: the app's Health
            probes.start(self.probe_socket, health_of(self.wsgi))
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
        now = time.monotonic()
        if now - self.murdered >= MURDER_SECONDS:
            self.murdered = now
            self.murder_front(now)
