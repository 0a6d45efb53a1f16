"""The TLS context the server presents, rebuilt when its certificate files change.

TLS comes from `tls.crt`/`tls.key` in a directory. gunicorn asks its `ssl_context` hook for a
context on every new connection; `CertReloader` answers with a cached context and rebuilds it
when the files change (mtime, size or inode: a Secret volume swaps a symlink), so a rotated pair
is served without a restart. A pair that does not load (a key written before its certificate)
keeps the previous context until the files are consistent.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path
from typing import Any

from webhook.tls.certs import CERT_FILE, KEY_FILE

log = logging.getLogger("canary_webhook.server")


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
