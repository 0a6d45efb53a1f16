"""One kind kept by a `kubernetes.informer.SharedInformer`: listed, then watched, its events followed.

`Watched` gives the informer the list function it needs (items as plain dicts, the watch as a raw stream
whose events the client decodes to dicts) and hands each event to the `Follower`s (`webhook.cluster.index`) that
keep indexes of the cache. A kind whose CRD is not installed is not an error here: its cache counts as
synced and empty, and the informer keeps retrying every `ABSENT_RETRY` seconds (logged once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.informer import ADDED, DELETED, MODIFIED
from kubernetes.informer import SharedInformer as _SharedInformer
from kubernetes.informer import _meta_namespace_key as _key

from kubectl_canary.core.kinds import Kind, Obj
from webhook.cluster.direct import decode
from webhook.cluster.index import Follower

log = logging.getLogger("canary_webhook.cache")
# The kubernetes client's config loaders and informer are not annotated; use them as Any.
SharedInformer: Any = _SharedInformer
# The informer's cache key (namespace/name): the followers file objects under the same key.
cache_key: Any = _key

# Watches end after this long and resume from the last resourceVersion, so that a connection that
# died silently is noticed; the read timeout is longer than the server's bookmark interval.
WATCH_SECONDS = 300
WATCH_READ_TIMEOUT = (10, WATCH_SECONDS + 60)
# While a CRD is missing its informer retries; wait this long between attempts (and log once).
ABSENT_RETRY = 10.0


class KindNotInstalled(Exception):
    """The API server does not serve this kind (its CRD is not installed)."""


class _Quiet(logging.Filter):
    """Drops the informer's stack traces for a missing optional CRD (logged once, politely, instead)
    and for the watch streams that `stop()` cuts on purpose."""

    stopping = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KindNotInstalled):
            return False
        return not (self.stopping and record.levelno >= logging.ERROR)


QUIET = _Quiet()
logging.getLogger("kubernetes.informer.informer").addFilter(QUIET)


class Watched:
    """One kind in a SharedInformer cache, with the list function the informer needs.

    The informer lists through `list_objects` (which returns the items as dicts) and watches through
    it too (the raw stream; `:rtype: object` below makes the watch decode events to dicts and follow
    their resourceVersion). The informer fills its cache from a list before it starts watching, so
    the first watch call is the moment the cache has synced.
    """

    def __init__(
        self, kind: Kind, list_all: Callable[..., Any], optional: bool, stop: threading.Event,
        absent_retry: float = ABSENT_RETRY,
    ) -> None:
        self.kind = kind
        self.list_all = list_all
        self.optional = optional
        self.absent_retry = absent_retry
        self.synced = threading.Event()
        self.absent = False
        self._stop = stop
        self.informer: Any = SharedInformer(list_func=self.list_objects)

    def list_objects(self, **kwargs: Any) -> Any:
        """List or watch the kind.

        :rtype: object
        """
        if kwargs.get("watch"):
            self.synced.set()
            kwargs.setdefault("timeout_seconds", WATCH_SECONDS)
            kwargs.setdefault("allow_watch_bookmarks", True)
            kwargs.setdefault("_request_timeout", WATCH_READ_TIMEOUT)
            return self.list_all(**kwargs)
        try:
            found = decode(self.list_all(_preload_content=False, **kwargs))
        except ApiException as err:
            if err.status == 404 and self.optional:
                self._mark_absent()
                raise KindNotInstalled(self.kind.kind) from err
            raise
        self.absent = False
        items = [i for i in found.get("items") or [] if isinstance(i, dict)]
        # A list's items carry no kind; the decisions (and messages) expect it.
        for item in items:
            item.setdefault("apiVersion", self.kind.api_version)
            item.setdefault("kind", self.kind.kind)
        rv = (found.get("metadata") or {}).get("resourceVersion")
        return SimpleNamespace(items=items, metadata=SimpleNamespace(resource_version=rv))

    def _mark_absent(self) -> None:
        if not self.absent:
            log.info("%s is not served by the API server (CRD not installed); treating as none, retrying",
                     self.kind.kind)
        self.absent = True
        # Counts as synced: there is nothing to wait for. The wait spaces out the informer's retries.
        self.synced.set()
        self._stop.wait(self.absent_retry)

    @property
    def ready(self) -> bool:
        return self.synced.is_set()

    def cached(self) -> list[Obj]:
        return list(self.informer.cache.list())

    def get(self, key: str) -> Obj | None:
        found = self.informer.cache.get_by_key(key)
        return found if isinstance(found, dict) else None

    def follow(self, follower: Follower) -> None:
        """Keep `follower` up to date from the informer's events. A relist fires them too (DELETED for what
        is gone, MODIFIED or ADDED for the rest), so it stays right across relists."""

        def put(obj: Any) -> None:
            if isinstance(obj, dict):
                follower.add(cache_key(obj), obj)

        def drop(obj: Any) -> None:
            if isinstance(obj, dict):
                follower.remove(cache_key(obj))

        for event, handler in ((ADDED, put), (MODIFIED, put), (DELETED, drop)):
            self.informer.add_event_handler(event, handler)


