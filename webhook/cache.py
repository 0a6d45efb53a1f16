"""The cluster-backed Lookup: watch caches of Upstreams, Deployments, Namespaces, RouteTables and policies.

Each kind is kept by a `kubernetes.informer.SharedInformer` (list, then watch; objects stay plain
dicts as the API server sends them). Requests read the caches and make no API call, except where a
decision asks again with `fresh=True` before denying (an object created a moment before the
RouteTable that routes to it may not be cached yet): that asks the API server once, with a short
timeout. A kind whose cache has not synced yet is read from the API server directly.

`ready()` is true once every cache has listed. CanaryPolicies are optional: while their CRD is not
installed the policy cache counts as synced and empty, and the informer keeps retrying, so it picks
the CRD up when it appears. Informers are threads: start them in the process that serves (a gunicorn
worker, after the fork), never before forking.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from kubernetes import client
from kubernetes import config as _config
from kubernetes.client.exceptions import ApiException
from kubernetes.informer import SharedInformer as _SharedInformer

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import CANARY_POLICY, DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, UPSTREAM, Kind, Obj
from webhook.lookup import namespace_of

log = logging.getLogger("canary_webhook.cache")
# The kubernetes client's config loaders and informer are not annotated; use them as Any.
config: Any = _config
SharedInformer: Any = _SharedInformer

# A fresh lookup happens while kube-apiserver waits for our answer (10 s by default): keep it short.
FRESH_TIMEOUT = 5.0
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


_QUIET = _Quiet()
logging.getLogger("kubernetes.informer.informer").addFilter(_QUIET)


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient for `--kubeconfig F`, else the in-cluster service account, else ~/.kube/config."""
    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)
            except config.ConfigException:
                config.load_kube_config(client_configuration=cfg, persist_config=False)
    except (config.ConfigException, OSError) as err:
        raise ClusterError(f"no cluster configuration ({err}); pass --kubeconfig, or --state DIR") from err
    return client.ApiClient(cfg)


def _decode(response: Any) -> Any:
    return json.loads(response.data)


def _unavailable(what: str, err: Exception) -> ClusterError:
    return ClusterError(f"could not read {what} from the API server: {err}")


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
            found = _decode(self.list_all(_preload_content=False, **kwargs))
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


class InformerLookup:
    """A Lookup over watch caches of the cluster (see the module docstring)."""

    def __init__(self, api: client.ApiClient, absent_retry: float = ABSENT_RETRY) -> None:
        self.api = api
        self.absent_retry = absent_retry
        # Deployments are read through the generic /apis/{group}/{version} client too: dicts, no models.
        self.custom = client.CustomObjectsApi(api)
        self._stop = threading.Event()
        self._started = False
        self.upstreams = self._watch(UPSTREAM, self._list_custom(UPSTREAM))
        self.deployments_cache = self._watch(DEPLOYMENT, self._list_custom(DEPLOYMENT))
        self.namespaces = self._watch(NAMESPACE, lambda **kwargs: self.core.list_namespace(**kwargs))
        self.routetables_cache = self._watch(ROUTETABLE, self._list_custom(ROUTETABLE))
        self.policies_cache = self._watch(CANARY_POLICY, self._list_custom(CANARY_POLICY), optional=True)
        self.services = self._watch(SERVICE, lambda **kwargs: self.core.list_service_for_all_namespaces(**kwargs))

    @functools.cached_property
    def core(self) -> Any:
        # Importing CoreV1Api (its models) takes seconds; only the Namespace reads need it, so it is
        # imported on first use, in the informer's thread, while the worker already answers /healthz.
        return client.CoreV1Api(self.api)

    def _watch(self, kind: Kind, list_all: Callable[..., Any], optional: bool = False) -> Watched:
        return Watched(kind, list_all, optional, self._stop, self.absent_retry)

    def _list_custom(self, kind: Kind) -> Callable[..., Any]:
        def list_all(**kwargs: Any) -> Any:
            return self.custom.list_cluster_custom_object(kind.group, kind.version, kind.plural, **kwargs)

        return list_all

    @property
    def all(self) -> tuple[Watched, ...]:
        return (self.upstreams, self.deployments_cache, self.namespaces, self.routetables_cache, self.policies_cache,
                self.services)

    def start(self) -> None:
        if not self._started:
            self._started = True
            for watched in self.all:
                watched.informer.start()

    def stop(self) -> None:
        self._stop.set()
        _QUIET.stopping += 1
        try:
            for watched in self.all:
                watched.informer.stop()
        finally:
            _QUIET.stopping -= 1

    def ready(self) -> bool:
        return self._started and all(w.ready for w in self.all)

    def wait_ready(self, timeout: float) -> bool:
        return all(w.synced.wait(timeout) for w in self.all)

    # Direct API reads: for fresh lookups and for caches that have not synced yet.

    def _read(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return _decode(call())
        except ApiException as err:
            if err.status == 404:
                return None
            raise _unavailable(what, err) from err
        except Exception as err:  # urllib3 and socket errors: the API server cannot be reached
            raise _unavailable(what, err) from err

    def _items(self, what: str, call: Callable[[], Any], kind: Kind) -> list[Obj]:
        found = self._read(what, call) or {}
        items = [i for i in found.get("items") or [] if isinstance(i, dict)]
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        if self.upstreams.ready and not fresh:
            return self.upstreams.get(f"{namespace}/{name}")
        found: Obj | None = self._read(
            f"Upstream {namespace}/{name}",
            lambda: self.custom.get_namespaced_custom_object(
                UPSTREAM.group, UPSTREAM.version, namespace, UPSTREAM.plural, name,
                _preload_content=False, _request_timeout=FRESH_TIMEOUT,
            ),
        )
        return found

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        if self.deployments_cache.ready and not fresh:
            return [d for d in self.deployments_cache.cached() if namespace_of(d) == namespace]
        return self._items(
            f"the Deployments in namespace {namespace}",
            lambda: self.custom.list_namespaced_custom_object(
                DEPLOYMENT.group, DEPLOYMENT.version, namespace, DEPLOYMENT.plural,
                _preload_content=False, _request_timeout=FRESH_TIMEOUT,
            ),
            DEPLOYMENT,
        )

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        if self.namespaces.ready and not fresh:
            return self.namespaces.get(name)
        found: Obj | None = self._read(
            f"Namespace {name}",
            lambda: self.core.read_namespace(name, _preload_content=False, _request_timeout=FRESH_TIMEOUT),
        )
        return found

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        if self.services.ready and not fresh:
            return self.services.get(f"{namespace}/{name}")
        found: Obj | None = self._read(
            f"Service {namespace}/{name}",
            lambda: self.core.read_namespaced_service(name, namespace, _preload_content=False,
                                                      _request_timeout=FRESH_TIMEOUT),
        )
        return found

    def routetables(self) -> Sequence[Obj]:
        if self.routetables_cache.ready:
            return self.routetables_cache.cached()
        return self._items(
            "the RouteTables",
            lambda: self._list_custom(ROUTETABLE)(_preload_content=False, _request_timeout=FRESH_TIMEOUT),
            ROUTETABLE,
        )

    def policies(self) -> Sequence[Obj]:
        if self.policies_cache.ready:
            return [] if self.policies_cache.absent else self.policies_cache.cached()
        return self._items(
            "the CanaryPolicies",
            lambda: self._list_custom(CANARY_POLICY)(_preload_content=False, _request_timeout=FRESH_TIMEOUT),
            CANARY_POLICY,
        )
