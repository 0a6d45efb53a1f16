"""The real `canary-webhook serve` process under slow clients, idle connections, shedding and SIGTERM
(loopback only, every loop bounded). The bounds asserted are behaviour a caller notices (a review still
answered within 1 s while slow clients are connected; a request too large refused at once), generous enough
for a loaded machine; speeds and latencies are measured in benchmarks/, not here. Overload as kube-apiserver
makes it is test_webhook_overload.py."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import whclients
import yaml
from test_webhook_server import issue, write_state
from whserver import Running, embedded, serve, session
from whsupport import admission_review, cluster, dest, routetable, single, weighted

from webhook.serving import connections, worker

Server = tuple[Running, Path]
REVIEW = admission_review(routetable([single(dest("v1"))]))
# What kube-apiserver waits for an answer before it applies the failurePolicy: the shortest timeoutSeconds of
# the shipped webhook configurations. A review answered later is, for the cluster, a failed call.
ADMISSION_TIMEOUT = min(
    hook["timeoutSeconds"]
    for name in ("mutatingwebhookconfiguration.yaml", "validatingwebhookconfiguration.yaml")
    for doc in yaml.safe_load_all((Path(__file__).resolve().parents[3] / "deploy" / "base" / name).read_text())
    if doc for hook in doc.get("webhooks", []))
# Heavy enough that one thread deciding it keeps the next review of a burst waiting.
HEAVY = admission_review(routetable([weighted([50, 50], prefix=f"/p{i}") for i in range(300)]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that only need a server: each of them leaves it as it found it (its clients
    closed), and what one leaves behind is what a production server would have to survive too. The tests
    that stop a server or need other settings start their own."""
    base = tmp_path_factory.mktemp("serving")
    ca = issue(base / "tls")
    state = write_state(base / "state", cluster())
    with serve(["--cert-dir", str(base / "tls"), "--state", str(state)], base / "server.log") as running:
        yield running, ca


def reviews_answer_quickly(server: Server, count: int = 5) -> list[tuple[float, int]]:
    return [whclients.review_on_new_connection(server[0].url, server[1], REVIEW) for _ in range(count)]


def wait_until(done: Callable[[], bool], seconds: float) -> bool:
    """Whether `done()` came true within `seconds` (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# The slow-client test's server gives a connection half the shipped REQUEST_SECONDS (`whserver.embedded`): the
# same limit reached sooner, so that the test need not wait 10 s for the server to give up on its slow clients.
SLOW_CLIENT_SECONDS = connections.REQUEST_SECONDS / 2


def test_slow_tls_hellos_headers_and_bodies_do_not_stop_reviews(tmp_path: Path):
    ca = issue(tmp_path / "tls")
    state = write_state(tmp_path / "state", cluster())
    args = ["--cert-dir", str(tmp_path / "tls"), "--state", str(state)]
    with serve(args, tmp_path / "server.log", command=embedded(SLOW_CLIENT_SECONDS)) as running:
        slow_clients_do_not_stop_reviews(running, ca)


def slow_clients_do_not_stop_reviews(running: Running, ca: Path) -> None:
    stop = threading.Event()
    slow = [make(running.port, ca, stop) for make in (whclients.slow_headers, whclients.slow_body)
            for _ in range(8)] + [whclients.slow_hello(running.port, stop) for _ in range(8)]
    try:
        assert wait_until(lambda: all(s.sent > 0 for s in slow), 5), slow  # each connected, part of a request sent
        for seconds, status in reviews_answer_quickly((running, ca)):
            assert status == 200 and seconds < ADMISSION_TIMEOUT
        with session(ca) as client:
            assert client.get(f"{running.probe_url}/readyz", timeout=1).status_code == 200
        assert all(s.closed_by_server is None for s in slow), slow  # all that while they were all still there
        # and the server gives up on them when their time is up (from the accept), not before
        assert wait_until(lambda: all(s.closed_by_server is not None for s in slow), SLOW_CLIENT_SECONDS + 5), [
            s for s in slow if s.closed_by_server is None]
        assert all(SLOW_CLIENT_SECONDS <= s.closed_by_server < SLOW_CLIENT_SECONDS + 3 for s in slow), slow
    finally:
        stop.set()
        for s in slow:
            s.join()


def worker_sockets(running: Running) -> int:
    """Sockets the gunicorn workers of `running` hold: each connection they accepted, and their listener."""
    pid = running.proc.pid
    workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = 0
    for child in workers:
        for fd in os.listdir(f"/proc/{child}/fd"):
            with contextlib.suppress(OSError):  # closed meanwhile
                found += os.readlink(f"/proc/{child}/fd/{fd}").startswith("socket:")
    return found


def test_a_thousand_idle_connections_do_not_stop_reviews(server):
    sockets = whclients.idle(server[0].port, 1000)
    try:
        # the server has accepted them all
        assert wait_until(lambda: worker_sockets(server[0]) > 1000, 10), worker_sockets(server[0])
        for seconds, status in reviews_answer_quickly(server):
            assert status == 200 and seconds < ADMISSION_TIMEOUT
    finally:
        for sock in sockets:
            sock.close()


class Caller(threading.Thread):
    """A kept-alive client posting reviews back to back until the server refuses new connections."""

    def __init__(self, url: str, ca: Path) -> None:
        super().__init__()
        self.url, self.ca = url, ca
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> None:
        data = json.dumps(REVIEW).encode()
        with session(self.ca) as client:
            for _ in range(5000):
                try:
                    answer = client.post(f"{self.url}/validate", data=data, timeout=10,
                                         headers={"Content-Type": "application/json"})
                except requests.ConnectionError as err:
                    if "Connection refused" in str(err):
                        return  # the server is gone; in a cluster the next call goes to another replica
                    self.failures.append(repr(err))
                    return
                except requests.RequestException as err:
                    self.failures.append(repr(err))
                    return
                if answer.status_code != 200:
                    self.failures.append(f"HTTP {answer.status_code}")
                self.answers[answer.headers.get("Connection", "").lower()] += 1


def kept_alive(running: Running, ca: Path) -> http.client.HTTPSConnection:
    """A connection that has had one answer and stays open, idle, between requests."""
    conn = http.client.HTTPSConnection("127.0.0.1", running.port, timeout=30,
                                       context=ssl.create_default_context(cafile=str(ca)))
    conn.request("POST", "/validate", body=json.dumps(REVIEW).encode(),
                 headers={"Host": "localhost", "Content-Type": "application/json"})
    answer = conn.getresponse()
    assert answer.status == 200 and json.loads(answer.read())["response"]["allowed"] is True
    assert answer.getheader("Connection") != "close"
    return conn


class Closing(threading.Thread):
    """Watches an idle connection (which sends nothing) until the server closes it: `seconds` from `since`."""

    def __init__(self, conn: http.client.HTTPSConnection, since: float) -> None:
        super().__init__(daemon=True)
        self.conn, self.since = conn, since
        self.after: float | None = None
        self.start()

    def run(self) -> None:
        assert self.conn.sock is not None
        with contextlib.suppress(OSError, ssl.SSLError):
            self.conn.sock.recv(1)
        self.after = time.monotonic() - self.since
        self.conn.close()

    def seconds(self) -> float:
        self.join(timeout=30)
        assert self.after is not None, "the server did not close an idle connection within 30 s"
        return self.after


def test_sigterm_under_load_loses_no_call(tmp_path: Path):
    ca = issue(tmp_path / "tls")
    state = write_state(tmp_path / "state", cluster())
    args = ["--cert-dir", str(tmp_path / "tls"), "--state", str(state)]
    with serve(args, tmp_path / "server.log", drain=None) as running:  # the shipped drain
        sigterm_under_load_loses_no_call(running, ca)
    assert f"draining for {worker.DRAIN_SECONDS:g} s" in running.log_text()


def sigterm_under_load_loses_no_call(running: Running, ca: Path) -> None:
    callers = [Caller(running.url, ca) for _ in range(8)]
    for caller in callers:
        caller.start()
    idle = kept_alive(running, ca)
    assert wait_until(lambda: all(sum(c.answers.values()) >= 5 or c.failures for c in callers), 10)  # under load
    running.proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    closing = Closing(idle, stopped)
    time.sleep(0.5)
    with session(ca) as client:
        readyz = client.get(f"{running.probe_url}/readyz", timeout=2)
    for caller in callers:
        caller.join(timeout=30)
    try:
        code = running.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not stop within 15 s of SIGTERM")
    took = time.monotonic() - stopped
    assert [f for c in callers for f in c.failures] == []
    assert code == 0 and took < worker.DRAIN_SECONDS + 5
    assert readyz.status_code == 503 and readyz.text == "shutting down\n"
    total = sum((c.answers for c in callers), Counter())
    assert total["keep-alive"] > 0 and total["close"] >= 8  # each caller's last answers said to reconnect
    # an idle kept-alive connection stayed open for the whole drain (a request may be on its way on it)
    assert closing.seconds() >= worker.DRAIN_SECONDS


def test_the_drain_lasts_as_long_as_serve_is_told(tmp_path: Path):
    ca = issue(tmp_path / "tls")
    state = write_state(tmp_path / "state", cluster())
    args = ["--cert-dir", str(tmp_path / "tls"), "--state", str(state)]
    with serve(args, tmp_path / "server.log", drain=0.5) as running:
        idle = kept_alive(running, ca)
        running.proc.send_signal(signal.SIGTERM)
        held = Closing(idle, time.monotonic()).seconds()
        assert running.proc.wait(timeout=15) == 0
    assert "draining for 0.5 s" in running.log_text()
    # open through the drain it was told, and closed at its end rather than after the shipped 3 s
    assert 0.5 <= held < worker.DRAIN_SECONDS, held


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /validate HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 8000 + b"\r\n" * 1 +
         b"".join(b"X-%d: %s\r\n" % (i, b"p" * 8000) for i in range(6)), b"431"),
        (b"POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n{", b"413"),
        (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{", b"413"),
    ],
    ids=["huge-head", "huge-chunk", "huge-length"],
)
def test_a_request_too_large_to_read_is_refused_at_once_without_waiting_for_it(server, request_bytes, status):
    # The rest is never sent: waiting for it would let a slow sender hold the connection (or a thread).
    from test_webhook_hostile import raw

    started = time.monotonic()
    answer = raw(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"Connection: close" in answer and time.monotonic() - started < 4


def test_a_shed_request_keeps_its_connection_for_the_next_one(tmp_path: Path):
    # One thread and one waiting place: of 6 reviews at once, some are shed; each connection then carries
    # its next review and gets exactly that review's answer.
    ca = issue(tmp_path / "tls")
    state = write_state(tmp_path / "state", cluster())
    args = ["--cert-dir", str(tmp_path / "tls"), "--state", str(state), "--threads", "1", "--max-queued", "1"]
    with serve(args, tmp_path / "server.log") as running:
        clients = [session(ca) for _ in range(6)]
        first: list[requests.Response] = []
        barrier = threading.Barrier(len(clients))

        def post(client: requests.Session, uid: str) -> requests.Response:
            body = json.loads(json.dumps(HEAVY))
            body["request"]["uid"] = uid
            return client.post(f"{running.url}/validate", json=body, timeout=30)

        def burst(client: requests.Session, i: int) -> None:
            post(client, "warm-up")  # connected before the burst
            barrier.wait()
            first.append(post(client, f"burst-{i}"))

        threads = [threading.Thread(target=burst, args=(c, i)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = Counter(answer.status_code for answer in first)
        assert statuses[503] > 0 and set(statuses) <= {200, 503}, statuses
        shed = [a for a in first if a.status_code == 503]
        assert all(a.headers["Connection"] == "keep-alive" and a.headers["Retry-After"] == "1" for a in shed)
        for i, client in enumerate(clients):
            answer = post(client, f"after-{i}")
            assert answer.status_code == 200 and answer.json()["response"]["uid"] == f"after-{i}"
            client.close()
