"""A tiny local HTTP server standing in for kube-apiserver (canned answers, recorded requests), and a
kubeconfig pointing at it, for ClusterStore tests that need no real cluster."""

from __future__ import annotations

import functools
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml


@functools.cache
def _ca() -> tuple[Any, Any]:
    from webhook.tls import certs

    return certs.new_ca("fake-apiserver-ca")


class FakeApiServer:
    """Answers each (method, path) with a canned (status, body, extra headers) and records the requests;
    each answer after `delay` seconds (an API server too busy to answer at once)."""

    def __init__(self, delay: float = 0.0, tls: bool = False) -> None:
        self.delay = delay
        self.answers: dict[tuple[str, str], tuple[int, object, list[tuple[str, str]]]] = {}
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({
                    "method": self.command, "path": url.path, "query": dict(parse_qsl(url.query)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    # Every value of a header sent more than once (Impersonate-Group), in order.
                    "header_values": {k.lower(): self.headers.get_all(k) for k in self.headers},
                    "body": json.loads(body) if body else None,
                })
                if fake.delay:
                    time.sleep(fake.delay)
                status, payload, headers = fake.answers.get((self.command, url.path), (404, {"message": "nf"}, []))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.ca_pem = b""
        if tls:  # HTTPS, certified by the CA all of them share (`ca_pem`): clients send bearer tokens only over TLS
            self.ca_pem = self._serve_tls()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def _serve_tls(self) -> bytes:
        from webhook.tls import certs

        ca, ca_key = _ca()
        cert, key = certs.new_serving_cert(ca, ca_key, dns_names=["localhost"], ips=["127.0.0.1"])
        directory = Path(tempfile.mkdtemp(prefix="fake-apiserver-"))
        cert_file, key_file = certs.write_pair(directory, certs.cert_pem(cert), certs.key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        return certs.cert_pem(ca)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kubeconfig(server: str, context: str = "dev", namespace: str | None = "echo", current: str | None = "dev") -> str:
    ctx = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", **({"current-context": current} if current else {}),
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": context, "context": ctx}],
    })
