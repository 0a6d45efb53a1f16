"""The bound on TLS handshakes in progress (webhook.serving.connections), on the real server over loopback: a client
that sends its hello and never finishes holds a place; a new connection over the bound is decided at once
(closed, or let in in place of the oldest stalled one), never queued, and reviews keep being answered."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import whclients
from test_webhook_server import issue, write_state
from whserver import serve
from whsupport import admission_review, cluster, dest, routetable, single

from webhook.serving.connections import MAX_HANDSHAKES, STALLED_SECONDS

REVIEW = admission_review(routetable([single(dest("v1"))]))
HELLO = whclients.client_hello()


def hello(port: int) -> socket.socket:
    """A connection that sends a TLS hello and nothing more (the server answers with its own flight)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(HELLO)
    return sock


def fate(sock: socket.socket, seconds: float) -> str:
    """"closed" when the server closes it within `seconds`, "answered" when its handshake goes on, else "waiting"."""
    readable, _, _ = select.select([sock], [], [], seconds)
    if not readable:
        return "waiting"
    try:
        return "answered" if sock.recv(65536) else "closed"
    except ConnectionError:
        return "closed"


def test_handshakes_in_progress_are_bounded_and_a_connection_over_the_bound_is_decided_at_once(tmp_path: Path):
    ca = issue(tmp_path / "tls")
    state = write_state(tmp_path / "state", cluster())
    with serve(["--cert-dir", str(tmp_path / "tls"), "--state", str(state)], tmp_path / "server.log") as running:
        stalled = [hello(running.port) for _ in range(MAX_HANDSHAKES)]
        try:
            assert [fate(s, 10) for s in stalled] == ["answered"] * MAX_HANDSHAKES  # each hello taken in
            over = hello(running.port)
            first = fate(over, 2)
            # refused at once; or, the oldest having stalled meanwhile, let in while the oldest is closed
            assert first == "closed" or (first == "answered" and fate(stalled[0], 2) == "closed"), first
            over.close()
            # however long they stall, new connections get in, in place of the stalled ones, and are answered
            time.sleep(STALLED_SECONDS)
            for seconds, status in [whclients.review_on_new_connection(running.url, ca, REVIEW) for _ in range(3)]:
                assert status == 200 and seconds < 1.0, (seconds, status)
        finally:
            for sock in stalled:
                sock.close()
