"""The cluster-backed Lookup: watch caches of Upstreams, Deployments, Namespaces, RouteTables and policies.

Each kind is kept by a `kubernetes.informer.SharedInformer` (list, then watch; objects stay plain
dicts as the API server sends them). Requests read the caches and make no API call, except where a
decision asks again with `fresh=True` before denying (an object created a moment before the
RouteTable that routes to it may not be cached yet): that asks the API server once, with a short
timeout and no retry after a timeout (`Late` says so), through a client of its own. A kind whose cache
has not synced yet is read from the API server directly. Indexes (`webhook.cluster.index`) and the compiled
CanaryPolicies are kept up to date by the informers' event handlers, so no request scans a cache.

`ready()` is true once every cache has listed. CanaryPolicies are optional: while their CRD is not
installed the policy cache counts as synced and empty, and the informer keeps retrying, so it picks
the CRD up when it appears. Informers are threads: start them in the process that serves (a gunicorn
worker, after the fork), never before forking.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes import client

from kubectl_canary.core.kinds import CANARY_POLICY, DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, UPSTREAM, Kind, Obj
from kubectl_canary.core.policy import read_policies
from kubectl_canary.core.routetable import UpstreamRef
from webhook.admission.lookup import (
    FRESH_TIMEOUT,
    PolicySet,
    namespace_of,
    pods_namespace,
    pods_namespaces,
    upstreams_named,
)
from webhook.cluster.direct import direct_client, items, read
from webhook.cluster.index import CompiledPolicies, Index
from webhook.cluster.informer import ABSENT_RETRY, QUIET, Watched

log = logging.getLogger("canary_webhook.cache")
class InformerLookup:
    """A Lookup over watch caches of the cluster (see the module docstring)."""

    def __init__(self, api: client.ApiClient, absent_retry: float = ABSENT_RETRY, policy_kind: Kind = CANARY_POLICY,
                 ) -> None:
        # `policy_kind`: the kind of the optional policy cache (CanaryPolicy; a test names a kind whose CRD
        # it installs later, to show the cache picking it up).
        self.api = api
        self.policy_kind = policy_kind
        self.absent_retry = absent_retry
        # Deployments are read through the generic /apis/{group}/{version} client too: dicts, no models.
        self.custom = client.CustomObjectsApi(api)
        self.direct = direct_client(api)
        self.custom_direct = client.CustomObjectsApi(self.direct)
        self._stop = threading.Event()
        self._started = False
        self.upstreams = self._watch(UPSTREAM, self._list_custom(UPSTREAM))
        self.deployments_cache = self._watch(DEPLOYMENT, self._list_custom(DEPLOYMENT))
        self.namespaces = self._watch(NAMESPACE, lambda **kwargs: self.core.list_namespace(**kwargs))
        self.routetables_cache = self._watch(ROUTETABLE, self._list_custom(ROUTETABLE))
        self.policies_cache = self._watch(policy_kind, self._list_custom(policy_kind), optional=True)
        self.services = self._watch(SERVICE, lambda **kwargs: self.core.list_service_for_all_namespaces(**kwargs))
        self.deployments_by_namespace: Index[str] = Index(lambda d: (namespace_of(d),))
        self.upstreams_by_pods: Index[str] = Index(pods_namespaces)
        self.routetables_by_upstream: Index[UpstreamRef] = Index(upstreams_named)
        self.compiled_policies = CompiledPolicies()
        self.deployments_cache.follow(self.deployments_by_namespace)
        self.upstreams.follow(self.upstreams_by_pods)
        self.routetables_cache.follow(self.routetables_by_upstream)
        self.policies_cache.follow(self.compiled_policies)

    @functools.cached_property
    def core(self) -> Any:
        # Importing CoreV1Api (its models) takes seconds; only the Namespace reads need it, so it is
        # imported on first use, in the informer's thread, while the worker already answers /healthz.
        return client.CoreV1Api(self.api)

    @functools.cached_property
    def core_direct(self) -> Any:
        return client.CoreV1Api(self.direct)

    def _watch(self, kind: Kind, list_all: Callable[..., Any], optional: bool = False) -> Watched:
        return Watched(kind, list_all, optional, self._stop, self.absent_retry)

    def _list_custom(self, kind: Kind, direct: bool = False) -> Callable[..., Any]:
        def list_all(**kwargs: Any) -> Any:
            api = self.custom_direct if direct else self.custom
            return api.list_cluster_custom_object(kind.group, kind.version, kind.plural, **kwargs)

        return list_all

    def _list_all(self, what: str, kind: Kind) -> list[Obj]:
        """Every object of `kind`, read from the API server now (its cache has not synced)."""
        return items(
            what, lambda: self._list_custom(kind, direct=True)(_preload_content=False, _request_timeout=FRESH_TIMEOUT),
            kind,
        )

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
        QUIET.stopping += 1
        try:
            for watched in self.all:
                watched.informer.stop()
        finally:
            QUIET.stopping -= 1

    def ready(self) -> bool:
        return self._started and all(w.ready for w in self.all)

    def wait_ready(self, timeout: float) -> bool:
        return all(w.synced.wait(timeout) for w in self.all)

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        if self.upstreams.ready and not fresh:
            return self.upstreams.get(f"{namespace}/{name}")
        found: Obj | None = read(
            f"Upstream {namespace}/{name}",
            lambda: self.custom_direct.get_namespaced_custom_object(
                UPSTREAM.group, UPSTREAM.version, namespace, UPSTREAM.plural, name,
                _preload_content=False, _request_timeout=FRESH_TIMEOUT,
            ),
        )
        return found

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        if self.deployments_cache.ready and not fresh:
            return self.deployments_by_namespace.get(namespace)
        return items(
            f"the Deployments in namespace {namespace}",
            lambda: self.custom_direct.list_namespaced_custom_object(
                DEPLOYMENT.group, DEPLOYMENT.version, namespace, DEPLOYMENT.plural,
                _preload_content=False, _request_timeout=FRESH_TIMEOUT,
            ),
            DEPLOYMENT,
        )

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        if self.namespaces.ready and not fresh:
            return self.namespaces.get(name)
        found: Obj | None = read(
            f"Namespace {name}",
            lambda: self.core_direct.read_namespace(name, _preload_content=False, _request_timeout=FRESH_TIMEOUT),
        )
        return found

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        if self.services.ready and not fresh:
            return self.services.get(f"{namespace}/{name}")
        found: Obj | None = read(
            f"Service {namespace}/{name}",
            lambda: self.core_direct.read_namespaced_service(name, namespace, _preload_content=False,
                                                             _request_timeout=FRESH_TIMEOUT),
        )
        return found

    def routetables(self) -> Sequence[Obj]:
        if self.routetables_cache.ready:
            return self.routetables_cache.cached()
        return self._list_all("the RouteTables", ROUTETABLE)

    def policies(self) -> Sequence[Obj]:
        if self.policies_cache.ready:
            return [] if self.policies_cache.absent else self.policies_cache.cached()
        return self._list_all(f"the {self.policy_kind.kind}s", self.policy_kind)

    def upstreams_for(self, namespace: str) -> Sequence[Obj]:
        if self.upstreams.ready:
            return self.upstreams_by_pods.get(namespace)
        return [u for u in self._list_all("the Upstreams", UPSTREAM) if pods_namespace(u) == namespace]

    def routetables_to(self, namespace: str, name: str) -> Sequence[Obj]:
        ref = UpstreamRef(namespace, name)
        if self.routetables_cache.ready:
            return self.routetables_by_upstream.get(ref)
        return [rt for rt in self.routetables() if ref in upstreams_named(rt)]

    def policy_set(self) -> PolicySet:
        if self.policies_cache.ready:
            return ([], []) if self.policies_cache.absent else self.compiled_policies.current
        return read_policies(self.policies())
