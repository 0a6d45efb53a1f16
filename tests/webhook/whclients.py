"""Misbehaving clients for the server tests, all on loopback and all bounded: ones that send their TLS
hello, headers or body a byte at a time, idle TCP connections, and a timed review through a fresh
connection. Each slow client runs until `stop` is set or its server closes it, then reports how."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from whserver import session


def client_hello() -> bytes:
    """The first flight of a TLS client (its ClientHello), made by the ssl module into memory."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def request_head(length: int = 2) -> bytes:
    return (f"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


@dataclass
class Drip:
    """A connection that sends `prefix` at once, then `payload` one byte every `interval` seconds."""

    port: int
    ca: Path | None  # None: raw TCP (the payload is a TLS hello); else TLS to the server first
    payload: bytes
    interval: float
    stop: threading.Event
    prefix: bytes = b""
    closed_by_server: float | None = None  # seconds after connecting, when the server gave up on it
    error: str = ""
    sent: int = 0
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Drip:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 10) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                sock: socket.socket = raw
                if self.ca is not None:
                    sock = ssl.create_default_context(cafile=str(self.ca)).wrap_socket(raw, server_hostname="localhost")
                sock.sendall(self.prefix)
                for byte in self.payload:
                    if self._pause(sock, self.interval):
                        return
                    sock.sendall(bytes([byte]))
                    self.sent += 1
                self._pause(sock, 60)
        except (OSError, ssl.SSLError) as err:
            self.closed_by_server = time.monotonic() - started
            self.error = type(err).__name__

    def _pause(self, sock: socket.socket, seconds: float) -> bool:
        """Wait `seconds`: True when `stop` is set first; OSError when the server closes the connection
        meanwhile (seen as it happens, not at the next byte sent)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop.is_set():
                return True
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable and self._closed(sock):
                raise ConnectionAbortedError("closed by the server")
        return self.stop.is_set()

    @staticmethod
    def _closed(sock: socket.socket) -> bool:
        """Whether what made `sock` readable is the server's close (not, say, a TLS 1.3 session ticket)."""
        sock.settimeout(0)
        try:
            return sock.recv(4096) == b""  # an SSLSocket returns b"" or raises at the server's close
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        finally:
            sock.settimeout(10)


def slow_hello(port: int, stop: threading.Event, interval: float = 1.0) -> Drip:
    return Drip(port, None, client_hello(), interval, stop).start()


def slow_headers(port: int, ca: Path, stop: threading.Event, interval: float = 1.0) -> Drip:
    return Drip(port, ca, request_head(), interval, stop).start()


def slow_body(port: int, ca: Path, stop: threading.Event, interval: float = 1.0) -> Drip:
    return Drip(port, ca, b"{}" * 50, interval, stop, prefix=request_head(100)).start()


def idle(port: int, count: int) -> list[socket.socket]:
    """`count` TCP connections that send nothing (the caller closes them)."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def timed(call: Callable[[], requests.Response]) -> tuple[float, int]:
    """(seconds, status) of one call; status 0 when it failed."""
    started = time.monotonic()
    try:
        status = call().status_code
    except requests.RequestException:
        status = 0
    return time.monotonic() - started, status


def review_on_new_connection(url: str, ca: Path, body: dict, timeout: float = 5) -> tuple[float, int]:
    """How long a review takes on a fresh connection (TLS handshake included), and its status."""
    data = json.dumps(body).encode()
    with session(ca) as client:
        return timed(lambda: client.post(f"{url}/validate", data=data, timeout=timeout,
                                         headers={"Content-Type": "application/json"}))
