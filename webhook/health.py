"""What the probe listener answers: /healthz, /readyz and /metrics from the app's `Health`.

The app (`webhook.app.create_app`) keeps a `Health` in its extensions: why it should get no traffic now
(draining, caches not synced) and its metrics. The listener (`webhook.serving.probes`) answers from it, on a port of
its own, so neither needs the other: the app knows nothing of sockets, the listener nothing of Flask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client.exposition import CONTENT_TYPE_LATEST as CONTENT_TYPE

TEXT: Final = "text/plain; charset=utf-8"
HEALTH: Final = "canary_health"  # the app's `Health`, in its extensions


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Health:
    """What the probe listener answers, from the app: why it should get no traffic now (draining, caches
    not synced) or None, and the metrics in Prometheus' text format."""

    not_ready: Callable[[], str | None]
    metrics: Callable[[], bytes]

    def answer(self, path: str) -> Answer:
        if path == "/healthz":
            return Answer(200, TEXT, b"ok\n")
        if path == "/readyz":
            why = self.not_ready()
            return Answer(503, TEXT, f"{why}\n".encode()) if why else Answer(200, TEXT, b"ok\n")
        if path == "/metrics":
            return Answer(200, CONTENT_TYPE, self.metrics())
        return Answer(404, TEXT, b"not found: this port serves /healthz, /readyz and /metrics\n")


def health_of(app: Any) -> Health:
    """What the probe listener answers for the Flask `app` (`webhook.app.create_app`)."""
    found: Health = app.extensions[HEALTH]
    return found
