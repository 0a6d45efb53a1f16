"""Waiting for a service's objects to change, through the Kubernetes watch API (`kubernetes.watch.Watch`).

`status --watch` redraws when the service's RouteTable or a Deployment of its namespace changes.
Two watches run, one per kind (a watch covers one resource type), each from the resourceVersion of
the store's last read of it, so nothing that happened since is missed and nothing before it is
replayed. The first event wakes the caller, which reads everything again (and so watches again from
fresh resourceVersions). The watch ending for any other reason (`timeout` elapsed, the server closing
it, 410 Gone when the resourceVersion expired, a dropped connection) wakes the caller too: re-reading
is the reconnect. A watch still open when the other one fired ends by itself within `timeout`.
"""

from __future__ import annotations

import threading
from typing import Any

from kubectl_canary.core.kinds import DEPLOYMENT, ROUTETABLE, Kind
from kubectl_canary.store.paths import resource_path


def _follow(store: Any, kind: Kind, namespace: str, field_selector: str | None, version: str | None,
            timeout: float, woken: threading.Event, failed: list[BaseException]) -> None:
    """One watch (a thread): set `woken` at its first event or when it ends; a failure goes to `failed`."""
    from kubernetes import watch

    path = resource_path(kind, namespace)
    what = f"{kind.plural} in namespace {namespace}"

    def open_stream(resource_version: str | None = None, timeout_seconds: int = 30, **_: Any) -> Any:
        # The store's request (its credentials, impersonation headers), streamed: Watch reads the lines.
        query = [("watch", "true"), ("timeoutSeconds", str(timeout_seconds))]
        query += [("fieldSelector", field_selector)] if field_selector else []
        query += [("resourceVersion", resource_version)] if resource_version else []
        return store.send("watch", what, "GET", path, query, timeout=(10.0, timeout + 10.0)).response

    try:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            # timeout_seconds also tells Watch not to reopen the stream by itself: re-reading is the caller's.
            open_stream, resource_version=version, timeout_seconds=max(1, int(timeout)), deserialize=False
        )
        for _event in stream:
            break
    except Exception as err:  # expiry (410 Gone), a refusal, a dropped connection: the caller re-reads
        failed.append(err)
    finally:
        woken.set()


def wait_for_change(store: Any, namespace: str, service: str, timeout: float) -> bool:
    """Return once a RouteTable or a Deployment of `namespace` changed since `store` last listed them
    (`store.versions`), or after `timeout` seconds: the service's RouteTable may have any name, so every
    RouteTable of the namespace is watched, as the snapshot lists them. False when a watch failed (a user
    who may not watch, an expired resourceVersion): the caller then waits before reading again, as polling
    would."""
    woken = threading.Event()
    failed: list[BaseException] = []
    watches = [
        (ROUTETABLE, None, store.versions.get((ROUTETABLE.plural, namespace, None))),
        (DEPLOYMENT, None, store.versions.get((DEPLOYMENT.plural, namespace, None))),
    ]
    for kind, selector, version in watches:
        threading.Thread(target=_follow, args=(store, kind, namespace, selector, version, timeout, woken, failed),
                         daemon=True).start()
    woken.wait(timeout + 15.0)
    return not failed
