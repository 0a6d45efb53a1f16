"""What a decision may ask about the cluster: the `Lookup` interface and its file-backed implementation.

Mutation and validation are pure functions given a `Lookup`. Its methods answer from memory (a
watch cache in the cluster, `webhook.cache.InformerLookup`; a directory of YAML for `--state DIR`
and `review`, `StateLookup`). Where a cached answer would lead to a denial, a decision asks again
with `fresh=True`: the cluster implementation then asks the API server once, because an object
created a moment ago may not have reached the cache yet. `Memo` wraps a Lookup for one request so
that a RouteTable of a thousand routes to one Upstream costs one lookup, not a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from kubectl_canary.core.kinds import CANARY_POLICY, DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, UPSTREAM, Obj
from kubectl_canary.manifests import read_dir


class Lookup(Protocol):
    """Read access to the cluster objects a decision needs (all returned as dicts; do not modify them).

    Implementations raise `kubectl_canary.core.errors.ClusterError` when the cluster cannot be asked;
    the app answers 503 and the webhook's failurePolicy decides.
    """

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        """The Upstream `namespace/name`, or None."""
        ...

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        """Every Deployment in `namespace`."""
        ...

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        """The Namespace `name`, or None."""
        ...

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        """The Service `namespace/name`, or None."""
        ...

    def routetables(self) -> Sequence[Obj]:
        """Every RouteTable in every namespace."""
        ...

    def policies(self) -> Sequence[Obj]:
        """Every CanaryPolicy (none when the CRD is not installed)."""
        ...

    def ready(self) -> bool:
        """Whether answers reflect the cluster (the caches have synced)."""
        ...


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("namespace") or "")


def pod_labels(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The labels of a Deployment's pod template (what its pods, and so Envoy's endpoints, carry)."""
    spec = deployment.get("spec") if isinstance(deployment, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    meta = template.get("metadata") if isinstance(template, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def serves(deployment: Mapping[str, Any], selector: Mapping[str, str], subset: Mapping[str, str]) -> bool:
    """Whether the Deployment's pods match an Upstream's `selector` and a route's `subset` values.

    Gloo gives an endpoint "" for every subset key its pod lacks, so a subset value "" matches
    pods without that label (API notes, translator/endpoints.go).
    """
    labels = pod_labels(deployment)
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    return all(labels.get(k, "") == v for k, v in subset.items())


class StateLookup:
    """A Lookup over objects read once from a directory of YAML (`--state DIR`), or given directly."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._by_kind: dict[str, list[Obj]] = {}
        for obj in objects:
            self._by_kind.setdefault(f"{obj.get('apiVersion', '')}/{obj.get('kind', '')}", []).append(obj)

    @classmethod
    def from_dir(cls, root: Path) -> StateLookup:
        """Every object in the YAML files below `root` (InvalidObject when one cannot be read)."""
        return cls(found.obj for found in read_dir(Path(root)))

    def _all(self, api_version: str, kind: str) -> list[Obj]:
        return self._by_kind.get(f"{api_version}/{kind}", [])

    def find(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The object of that kind, namespace ("" for cluster-scoped) and name, or None."""
        for obj in self._all(api_version, kind):
            if name_of(obj) == name and namespace_of(obj) == namespace:
                return obj
        return None

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.find(UPSTREAM.api_version, UPSTREAM.kind, namespace, name)

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        return [d for d in self._all(DEPLOYMENT.api_version, DEPLOYMENT.kind) if namespace_of(d) == namespace]

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        return self.find(NAMESPACE.api_version, NAMESPACE.kind, "", name)

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.find(SERVICE.api_version, SERVICE.kind, namespace, name)

    def routetables(self) -> Sequence[Obj]:
        return list(self._all(ROUTETABLE.api_version, ROUTETABLE.kind))

    def policies(self) -> Sequence[Obj]:
        return list(self._all(CANARY_POLICY.api_version, CANARY_POLICY.kind))

    def ready(self) -> bool:
        return True


class Memo:
    """A Lookup that remembers every answer of another one, for the duration of one request."""

    def __init__(self, inner: Lookup) -> None:
        self.inner = inner
        self._seen: dict[tuple[Any, ...], Any] = {}

    def _ask(self, key: tuple[Any, ...], call: Any) -> Any:
        if key not in self._seen:
            self._seen[key] = call()
        return self._seen[key]

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(
            ("upstream", namespace, name, fresh), lambda: self.inner.upstream(namespace, name, fresh)
        )
        return found

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(
            ("deployments", namespace, fresh), lambda: self.inner.deployments(namespace, fresh)
        )
        return found

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(("namespace", name, fresh), lambda: self.inner.namespace(name, fresh))
        return found

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(
            ("service", namespace, name, fresh), lambda: self.inner.service(namespace, name, fresh)
        )
        return found

    def routetables(self) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(("routetables",), self.inner.routetables)
        return found

    def policies(self) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(("policies",), self.inner.policies)
        return found

    def ready(self) -> bool:
        return self.inner.ready()


class CachedOnly:
    """A Lookup that answers every question from `inner`'s cache, a fresh one included: for judgements
    that only warn, where asking the API server again is not worth its load."""

    def __init__(self, inner: Lookup) -> None:
        self.inner = inner

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.inner.upstream(namespace, name)

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        return self.inner.deployments(namespace)

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        return self.inner.namespace(name)

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.inner.service(namespace, name)

    def routetables(self) -> Sequence[Obj]:
        return self.inner.routetables()

    def policies(self) -> Sequence[Obj]:
        return self.inner.policies()

    def ready(self) -> bool:
        return self.inner.ready()


def find_upstream(lookup: Lookup, namespace: str, name: str) -> Obj | None:
    """The Upstream from the cache, else (it may have been created a moment ago) from the cluster."""
    return lookup.upstream(namespace, name) or lookup.upstream(namespace, name, fresh=True)


def find_service(lookup: Lookup, namespace: str, name: str) -> Obj | None:
    """The Service from the cache, else from the cluster."""
    return lookup.service(namespace, name) or lookup.service(namespace, name, fresh=True)


def find_namespace(lookup: Lookup, name: str) -> Obj | None:
    """The Namespace from the cache, else from the cluster."""
    return lookup.namespace(name) or lookup.namespace(name, fresh=True)


def serving(
    lookup: Lookup, namespace: str, selector: Mapping[str, str], subset: Mapping[str, str]
) -> list[Obj]:
    """The Deployments in `namespace` that serve `selector` + `subset`; asks the cluster when none are cached."""
    for fresh in (False, True):
        found = [d for d in lookup.deployments(namespace, fresh) if serves(d, selector, subset)]
        if found:
            return found
    return []
