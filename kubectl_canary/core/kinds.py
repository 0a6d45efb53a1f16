"""The kinds the tool reads and writes, and references to objects by kind, namespace and name.

Objects themselves stay dicts with their real camelCase keys; `Kind` and `ObjectRef` are the frozen
values used to name them in plans, stores and messages.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A kind with what a REST path or a file name needs."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


DEPLOYMENT: Final = Kind("apps/v1", "Deployment", "deployments")
SERVICE: Final = Kind("v1", "Service", "services")
UPSTREAM: Final = Kind("gloo.solo.io/v1", "Upstream", "upstreams")
ROUTETABLE: Final = Kind("gateway.solo.io/v1", "RouteTable", "routetables")
NAMESPACE: Final = Kind("v1", "Namespace", "namespaces", namespaced=False)
CANARY_POLICY: Final = Kind("policy.kubectl-canary.io/v1alpha1", "CanaryPolicy", "canarypolicies", False)
# Read only, by `status`, for what the data path says.
POD: Final = Kind("v1", "Pod", "pods")
ENDPOINT_SLICE: Final = Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
VIRTUAL_SERVICE: Final = Kind("gateway.solo.io/v1", "VirtualService", "virtualservices")
# An HPA that scales a primary gets a twin that scales its canary.
HORIZONTAL_POD_AUTOSCALER: Final = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")

KINDS: Final = (DEPLOYMENT, SERVICE, UPSTREAM, ROUTETABLE, NAMESPACE, CANARY_POLICY, POD, ENDPOINT_SLICE,
                VIRTUAL_SERVICE, HORIZONTAL_POD_AUTOSCALER)
_BY_KIND: Final = {k.kind: k for k in KINDS}


def kind_named(kind: str) -> Kind | None:
    """The Kind for a `kind` string, or None when the tool does not handle that kind."""
    return _BY_KIND.get(kind)


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Names one object: `RouteTable echo/echo-routes` in messages."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @staticmethod
    def of(obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return ObjectRef(str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _string_map(obj: Obj, key: str) -> dict[str, str]:
    # Objects may be read before schema validation (the mutating webhook, files): metadata or a map
    # that is not an object counts as absent.
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    found = meta.get(key) if isinstance(meta, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def labels_of(obj: Obj) -> dict[str, str]:
    """The object's labels (empty when it has none, or when they are not a map)."""
    return _string_map(obj, "labels")


def annotations_of(obj: Obj) -> dict[str, str]:
    """The object's annotations (empty when it has none, or when they are not a map)."""
    return _string_map(obj, "annotations")


# Fields the server owns: they are dropped before an object is written to a file or compared.
_SERVER_FIELDS: Final = (
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
)


def manifest(obj: Obj) -> Obj:
    """A copy of `obj` as a user would keep it in git: without status and server-owned metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for field in _SERVER_FIELDS:
        meta.pop(field, None)
    anns = meta.get("annotations")
    if anns is not None:
        anns.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not anns:
            meta.pop("annotations")
    return out
