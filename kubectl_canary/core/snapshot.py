"""What a command knows about one service before it plans: its objects as read from a store.

A `Snapshot` holds the service's Service, its Gloo Upstream, the RouteTable whose routes send to that
Upstream (any name: `S-routes` for a service made by `init`, whatever the user called it otherwise),
its Deployments by version, the Deployments that serve it without a `version` label yet (what `adopt`
labels) and the HorizontalPodAutoscalers of the namespace. It is built from plain objects by
`snapshot_of`, so plans and status can be computed (and tested) from any list of dicts.

Which objects are the service's follows SPEC 1: the Upstream is the one whose `kube` names Service
`N/S`; a version's Deployment is the one whose pod template carries `version: V` and the Service's
selector labels, whatever its name (the plugin's `S-V` wins when two claim the same version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.errors import NotFound, UsageError
from kubectl_canary.core.kinds import (
    DEPLOYMENT,
    HORIZONTAL_POD_AUTOSCALER,
    ROUTETABLE,
    SERVICE,
    UPSTREAM,
    Obj,
    ObjectRef,
    annotations_of,
    labels_of,
)
from kubectl_canary.core.routes import routes_to
from kubectl_canary.core.routetable import UpstreamRef


def _empty() -> Mapping[str, Obj]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    """The current objects of service `service` in `namespace` (None where an object does not exist)."""

    service: str
    namespace: str
    routetable: Obj | None = None
    deployments: Mapping[str, Obj] = field(default_factory=_empty)
    service_obj: Obj | None = None
    upstream_obj: Obj | None = None
    unversioned: tuple[Obj, ...] = ()
    hpas: tuple[Obj, ...] = ()

    def deployment(self, version: str) -> Obj | None:
        return self.deployments.get(version)

    def role(self, version: str) -> str | None:
        """The role annotation of the Deployment running `version` (None without one)."""
        found = self.deployment(version)
        return annotations_of(found).get(names.ROLE) if found is not None else None

    @property
    def upstream(self) -> UpstreamRef:
        """The service's Upstream: the one found, else `N/S` (what `init` writes)."""
        meta = (self.upstream_obj or {}).get("metadata") or {}
        return UpstreamRef(str(meta.get("namespace") or self.namespace), str(meta.get("name") or self.service))

    @property
    def selector(self) -> dict[str, str]:
        """The labels the Service selects its pods by (`app: S` for a service without a Service yet)."""
        return service_selector(self.service_obj, self.service)

    @property
    def routetable_ref(self) -> ObjectRef:
        """The service's RouteTable: the one found, else `N/S-routes` (what `init` writes)."""
        name = ((self.routetable or {}).get("metadata") or {}).get("name") or names.routetable_name(self.service)
        return ObjectRef(ROUTETABLE.kind, self.namespace, str(name))

    @property
    def api_group(self) -> str | None:
        """The RouteTable's apiGroup label, kept by every plan. Without one the plugin sends none: the
        webhook injects the Namespace's or the policy's group (SPEC 2), so the two never disagree."""
        return labels_of(self.routetable).get(names.API_GROUP) if self.routetable else None

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.service}"

    def read_objects(self) -> dict[ObjectRef, Obj | None]:
        """What this snapshot read, by reference (None where the object does not exist). Executing a plan
        made from it needs to ask the store only for others."""
        found: dict[ObjectRef, Obj | None] = {self.routetable_ref: self.routetable}
        found[ObjectRef(SERVICE.kind, self.namespace, self.service)] = self.service_obj
        found[ObjectRef(UPSTREAM.kind, self.upstream.namespace, self.upstream.name)] = self.upstream_obj
        found.update((ObjectRef.of(d), d) for d in (*self.deployments.values(), *self.unversioned, *self.hpas))
        return found

    def not_found(self) -> NotFound:
        """The error for a service without a RouteTable that routes to it, saying how to create it."""
        return NotFound(
            f"service {self.service} not found in namespace {self.namespace}: no RouteTable there routes to "
            f"Upstream {self.upstream}; create the service with `kubectl canary init {self.service} --version V`, "
            f"or bring one that runs already under kubectl-canary with `kubectl canary adopt {self.service} "
            "--version V`"
        )


def service_selector(service_obj: Obj | None, service: str) -> dict[str, str]:
    """A Service's selector (`app: S` when there is no Service, or it selects nothing)."""
    found = ((service_obj or {}).get("spec") or {}).get("selector")
    if isinstance(found, dict) and found:
        return {str(k): str(v) for k, v in found.items()}
    return {names.APP_KEY: service}


def pod_labels(deployment: Obj) -> dict[str, str]:
    """The labels of a Deployment's pod template."""
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    found = template.get("labels")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def deployment_version(obj: Obj, selector: Mapping[str, str]) -> str | None:
    """The version a Deployment runs for the service selecting `selector` (its pods' `version` label), or
    None when its pods are not the service's or carry no version."""
    labels = pod_labels(obj)
    if any(labels.get(k) != v for k, v in selector.items()) or not labels.get(names.VERSION_KEY):
        return None
    return labels[names.VERSION_KEY]


def _is_kind(obj: Obj, kind: str) -> bool:
    return obj.get("kind") == kind


def upstream_of(objects: Iterable[Obj], service: str, namespace: str) -> Obj | None:
    """The Upstream whose `kube` names Service `namespace/service`: the one named `S` in the namespace
    first (what `init` writes), else the only other one (Gloo's discovery writes `N-S-PORT` in its own
    namespace); UsageError when several others do."""
    found = []
    for obj in objects:
        kube = (obj.get("spec") or {}).get("kube") or {}
        meta = obj.get("metadata") or {}
        if _is_kind(obj, UPSTREAM.kind) and kube.get("serviceName") == service and (
            kube.get("serviceNamespace") or meta.get("namespace")
        ) == namespace:
            found.append(obj)
    own = [o for o in found if (o["metadata"].get("namespace"), o["metadata"].get("name")) == (namespace, service)]
    if own or len(found) <= 1:
        return (own or found)[0] if own or found else None
    listed = ", ".join(f"{o['metadata'].get('namespace')}/{o['metadata'].get('name')}" for o in found)
    raise UsageError(f"several Upstreams send to Service {namespace}/{service} ({listed}); keep one, or route to "
                     "the one to manage and remove the others")


def _routetable(objects: list[Obj], service: str, namespace: str, upstream: UpstreamRef,
                routetable: str | None) -> Obj | None:
    tables = [o for o in objects if _is_kind(o, ROUTETABLE.kind)
              and (o.get("metadata") or {}).get("namespace", namespace) == namespace]
    if routetable is not None:
        named = [t for t in tables if t["metadata"].get("name") == routetable]
        if not named:
            raise NotFound(f"RouteTable {namespace}/{routetable} (--routetable) not found")
        return named[0]
    routing = [t for t in tables if routes_to(t, upstream)]
    if len(routing) > 1:
        listed = ", ".join(str(t["metadata"].get("name")) for t in routing)
        raise UsageError(f"several RouteTables in namespace {namespace} route to Upstream {upstream} ({listed}); "
                         f"name the one to manage with --routetable NAME")
    default = [t for t in tables if t["metadata"].get("name") == names.routetable_name(service)]
    return (routing or default)[0] if routing or default else None


def snapshot_of(service: str, namespace: str, objects: Iterable[Obj], routetable: str | None = None) -> Snapshot:
    """Pick the service's objects out of `objects` (anything else, e.g. other services, is ignored)."""
    everything = list(objects)
    mine = [o for o in everything if (o.get("metadata") or {}).get("namespace", namespace) == namespace]
    service_obj = next((o for o in mine if _is_kind(o, SERVICE.kind)
                        and (o.get("metadata") or {}).get("name") == service), None)
    upstream_obj = upstream_of(everything, service, namespace)
    upstream_meta: Any = (upstream_obj or {}).get("metadata") or {}
    upstream = UpstreamRef(str(upstream_meta.get("namespace") or namespace), str(upstream_meta.get("name") or service))
    selector = service_selector(service_obj, service)
    deployments: dict[str, Obj] = {}
    unversioned: list[Obj] = []
    for obj in mine:
        if not _is_kind(obj, DEPLOYMENT.kind):
            continue
        version = deployment_version(obj, selector)
        if version is None:
            labels = pod_labels(obj)
            if all(labels.get(k) == v for k, v in selector.items()) and names.VERSION_KEY not in labels:
                unversioned.append(obj)
            continue
        named = (obj.get("metadata") or {}).get("name") == names.deployment_name(service, version)
        if version not in deployments or named:
            deployments[version] = obj
    return Snapshot(
        service=service,
        namespace=namespace,
        routetable=_routetable(mine, service, namespace, upstream, routetable),
        deployments=MappingProxyType(dict(sorted(deployments.items()))),
        service_obj=service_obj,
        upstream_obj=upstream_obj,
        unversioned=tuple(unversioned),
        hpas=tuple(o for o in mine if _is_kind(o, HORIZONTAL_POD_AUTOSCALER.kind)),
    )
