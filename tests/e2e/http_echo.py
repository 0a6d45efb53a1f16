"""A stand-in for the image `hashicorp/http-echo`, which cannot be fetched here: the node agent runs
this script with the container's own command line. Like http-echo it answers every path with the
`-text` and a newline, `-status-code` (default 200) as the status, `X-App-Name: http-echo`, and
`/health` with `{"status":"ok"}`; on SIGTERM or SIGINT it stops accepting, lets the requests in
flight finish and exits. `-listen` without a host (`:8080`) means every address of the pod; each pod
here has a network namespace of its own (`sandbox.py`), whose one address the agent also passes in
`POD_IP`, and the stand-in binds that, which is the same thing inside the pod's namespace.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse(argv: list[str]) -> argparse.Namespace:
    # Go's flag package: -flag=value, -flag value, --flag=value.
    parser = argparse.ArgumentParser(prog="http-echo", allow_abbrev=False)
    parser.add_argument("-text", "--text", required=True)
    parser.add_argument("-listen", "--listen", default=":5678")
    parser.add_argument("-status-code", "--status-code", type=int, default=200)
    return parser.parse_args(argv)


def address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or os.environ.get("POD_IP", "0.0.0.0"), int(port)


class Active:
    """Requests being answered, so that a shutdown can wait for them (as Go's Server.Shutdown does)."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = threading.Condition()

    def __enter__(self) -> None:
        with self.idle:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout)


def handler(text: str, status: int, active: Active) -> type[BaseHTTPRequestHandler]:
    body = (text + "\n").encode()

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's connection pool expects
        server_version = "http-echo-standin"

        def _answer(self, code: int, payload: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-App-Name", "http-echo")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _any(self) -> None:
            with active:
                self._reply()

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path == "/health":
                self._answer(200, b'{"status":"ok"}\n', "application/json")
            else:
                self._answer(status, body, "text/plain; charset=utf-8")

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would flood the agent's log under load

    return Echo


def main(argv: list[str]) -> int:
    args = parse(argv)
    active = Active()
    server = ThreadingHTTPServer(address(args.listen), handler(args.text, args.status_code, active))
    # Threads idling on kept-alive connections must not hold up the exit; requests being answered
    # are waited for below instead.
    server.daemon_threads = True

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"[http-echo stand-in] listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    active.wait_idle(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
