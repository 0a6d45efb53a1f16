"""The worker's connections, from the accept to the close: what the front stage (`webhook.serving.worker`) reads
requests from.

`Connections` empties the listen queue every turn of the loop (up to `ACCEPT_BATCH`), and bounds what it
holds: at most `worker_connections` open (the oldest idle one is closed to make room), at most
`MAX_HANDSHAKES` TLS handshakes in progress (the oldest is closed to make room once it has stalled, so that
clients which never finish theirs cannot keep new ones out), and no new connection at all while the loop is
behind (two turns in a row over `MAX_LAG`): under a flood, kube-apiserver's client dials a new connection for
every call that finds no idle one, each handshake makes the loop later, and the calls time out together. A
connection over a bound is closed at once, so its call fails fast (and, in a cluster, the next one may go to
another replica) rather than waiting out its timeout in a queue; the calls on the connections already open go
on. A connection is closed without blocking the loop: half-closed, then its unread input drained for
`LINGER_SECONDS`, so the peer reads the answer rather than a reset.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import ssl
import time
from functools import partial
from typing import Any, Final

from gunicorn import sock as gsock
from gunicorn import util
from gunicorn.workers import gthread

from webhook.serving.framing import Framer

# From a connection's first byte (or its accept) to its whole request, handshake included.
REQUEST_SECONDS: Final = 10.0
# A closed connection's unread input is drained (so the peer gets the answer, not a reset) this long.
LINGER_SECONDS: Final = 2.0
# TLS handshakes in progress at most: a connection accepted over it is closed at once, not queued.
MAX_HANDSHAKES: Final = 128
# A handshake in progress this long has stalled (on loopback or in a cluster one takes milliseconds).
STALLED_SECONDS: Final = 1.0
# Connections taken from the listen queue per turn of the loop, in or refused: all that are waiting, unless a
# flood keeps it full (a connection left there would wait, unanswered, behind the events of the turn).
ACCEPT_BATCH: Final = 1024
# A turn of the loop longer than this (its events dispatched, waits for the GIL included) delays every
# handshake, read and answer behind it. Two in a row: the loop is behind, and new connections are refused
# until it has caught up (the calls on open ones go on); one sheds the reviews read next (`webhook.serving.worker`).
MAX_LAG: Final = 0.1
# Bodies are read up to the app's limit (kube-apiserver: 3 MiB objects, two in an UPDATE).
MAX_BODY: Final = 7 * 1024 * 1024


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


class Connections(gthread.ThreadWorker):  # type: ignore[misc]
    """gthread's worker, holding its connections in the front stage (`front`) until a request is whole."""

    request_seconds = REQUEST_SECONDS  # set from `serve` (shorter only in tests)

    def init_process(self) -> None:
        self.front: dict[FrontConn, None] = {}
        self.lingering: dict[socket.socket, float] = {}
        # Handshakes in progress (the hello has come, the handshake is not done), oldest first, since when.
        self.handshakes: dict[FrontConn, float] = {}
        self.lag = 0.0  # how long the last turn of the loop took
        self.late_turns = 0  # turns in a row over MAX_LAG
        super().init_process()

    def on_readable(self, conn: FrontConn, _fileobj: Any = None) -> None:
        raise NotImplementedError  # the front stage's (`webhook.serving.worker.FrontWorker`)

    def _handshake_begun(self, conn: FrontConn) -> bool:
        """Its first bytes came (connections that send nothing are idle ones, not handshakes in progress):
        whether it may go on, under MAX_HANDSHAKES (else it is to be refused at once)."""
        if conn in self.handshakes:
            return True
        if len(self.handshakes) >= MAX_HANDSHAKES and not self._drop_a_stalled_handshake():
            return False
        self.handshakes[conn] = time.monotonic()
        return True

    def _handshake_over(self, conn: FrontConn) -> None:
        """Done, or the connection is gone: no longer in progress."""
        self.handshakes.pop(conn, None)

    def _drop_a_stalled_handshake(self) -> bool:
        """Drop the oldest handshake in progress if it has stalled (STALLED_SECONDS): clients that never finish
        their handshake cannot keep every new one out."""
        oldest, since = next(iter(self.handshakes.items()))
        if time.monotonic() - since < STALLED_SECONDS:
            return False
        self._drop(oldest)
        return True

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """gthread's, timing the turn (`lag`): from the events' arrival to the last one dispatched."""
        events = self.poller.select(timeout)  # EINTR is retried by Python (PEP 475)
        began = time.monotonic()
        for key, _ in events:
            key.data(key.fileobj)
        self.lag = time.monotonic() - began
        self.late_turns = self.late_turns + 1 if self.lag > MAX_LAG else 0

    def accept(self, listener: Any) -> bool:
        """Empty the listen queue (up to ACCEPT_BATCH connections, taken in or refused); False when none was
        waiting."""
        seen = 0
        while seen < ACCEPT_BATCH and self._accept_one(listener) is not None:
            seen += 1
        return seen > 0

    def _accept_one(self, listener: Any) -> bool | None:
        """True: taken in; False: refused; None: none was waiting."""
        try:
            client, addr = listener.accept()
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None
        if self.late_turns >= 2 or (self.nr_conns >= self.worker_connections and not self._evict()):
            util.close(client)  # refused at once: the caller fails fast rather than waiting out its timeout
            return False
        client.setblocking(False)
        wrapped = client
        if self.cfg.is_ssl:
            try:
                wrapped = gsock.ssl_context(self.cfg).wrap_socket(
                    client, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=True)
            except (OSError, ValueError, ssl.SSLError):
                util.close(client)
                return False
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
        if conn not in self.front:
            return  # dropped already (an event of the same turn may still name it)
        self._leave_front(conn)
        self.nr_conns -= 1
        self._handshake_over(conn)
        util.close(conn.sock)

    def murder_front(self, now: float, idle_too: bool = False) -> None:
        """Close the connections past their deadline (and, draining is over, idle kept-alive ones)."""
        for conn in [c for c in self.front if c.deadline <= now or (idle_too and c.waiting)]:
            self._drop(conn)
        for sock, until in list(self.lingering.items()):
            if until <= now:
                self._unlinger(sock)

    def _close(self, conn: FrontConn) -> None:
        """Close without blocking the loop: half-close, then drain what the peer still sends, briefly."""
        self._leave_front(conn)
        self.nr_conns -= 1
        self._handshake_over(conn)
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
