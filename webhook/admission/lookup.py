"""What a decision may ask about the cluster: the `Lookup` interface, the budget of fresh reads, and
`CachedOnly`, a view of a Lookup that never asks again.

Mutation and validation are pure functions given a `Lookup`. Its methods answer from memory (a
watch cache in the cluster, `webhook.cluster.cache.InformerLookup`; a directory of YAML for `--state DIR`
and `review`, `webhook.cluster.state.StateLookup`). Where a cached answer would lead to a denial, a decision asks
again with `fresh=True`: the cluster implementation then asks the API server once, because an object
created a moment ago may not have reached the cache yet; `Late` says it could not be asked in time.
One request's view of a Lookup (memoised, with a budget for fresh reads) is `webhook.cluster.memo.Memo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.policy import Policy, Unreadable
from kubectl_canary.core.routetable import UpstreamRef, destinations

PolicySet = tuple[list[Policy], list[Unreadable]]

# Fresh reads are asked while kube-apiserver waits for our answer (`timeoutSeconds: 5` on the shipped
# webhooks). Each one may take FRESH_TIMEOUT, connecting included (`webhook.cluster.direct`); none starts after
# FRESH_BUDGET seconds of a request: 2.5 + 1.5 = 4 s at worst, which leaves ANSWER_MARGIN to answer.
FRESH_TIMEOUT = 1.5
FRESH_BUDGET = 2.5
ANSWER_MARGIN = 1.0


def fresh_budget(timeout_seconds: float) -> float:
    """The budget for a webhook that kube-apiserver waits on `timeout_seconds`: the last read and the
    answer still fit in it (FRESH_BUDGET at most; a fifth of a second at least, for a fresh read to start)."""
    return max(0.2, min(FRESH_BUDGET, timeout_seconds - FRESH_TIMEOUT - ANSWER_MARGIN))


class Late(ClusterError):
    """The cluster could not be asked in time: a fresh read past the request's budget, or one that timed out."""


class Lookup(Protocol):
    """Read access to the cluster objects a decision needs (all returned as dicts; do not modify them).

    Implementations raise `kubectl_canary.core.errors.ClusterError` when the cluster cannot be asked
    (`Late` when it cannot be asked in time); the app answers for the webhook's failure mode.
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

    def upstreams_for(self, namespace: str) -> Sequence[Obj]:
        """Every kube Upstream whose pods live in `namespace` (see `pods_namespace`)."""
        ...

    def routetables_to(self, namespace: str, name: str) -> Sequence[Obj]:
        """Every RouteTable with at least one destination, single or multi, naming Upstream `namespace/name`
        (a ref without a namespace names one in the RouteTable's own; see `upstreams_named`)."""
        ...

    def policy_set(self) -> PolicySet:
        """The CanaryPolicies as `read_policies` reads them: (readable ones sorted by name, unreadable ones),
        compiled when the policies change rather than per call. Shared between callers: do not modify."""
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


def pods_namespace(upstream: Mapping[str, Any]) -> str | None:
    """Where the pods of a kube Upstream live: its `spec.kube.serviceNamespace`, else its own namespace.
    None for static, AWS and other Upstream types, which select no pods."""
    spec = upstream.get("spec")
    kube = spec.get("kube") if isinstance(spec, dict) else None
    if not isinstance(kube, dict):
        return None
    return str(kube.get("serviceNamespace") or namespace_of(upstream))


def upstreams_named(rt: Mapping[str, Any]) -> set[UpstreamRef]:
    """Every Upstream the RouteTable's destinations (single and multi) name, namespaces resolved."""
    return {dest.upstream for dest in destinations(rt) if dest.upstream is not None}


def pods_namespaces(upstream: Obj) -> tuple[str, ...]:
    """`pods_namespace` as index values: the one namespace, or none."""
    found = pods_namespace(upstream)
    return () if found is None else (found,)


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
    return labels_serve(pod_labels(deployment), selector, subset)


def labels_serve(labels: Mapping[str, str], selector: Mapping[str, str], subset: Mapping[str, str]) -> bool:
    """`serves`, for pods carrying `labels` (read once when many destinations are asked about)."""
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    return all(labels.get(k, "") == v for k, v in subset.items())


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

    def upstreams_for(self, namespace: str) -> Sequence[Obj]:
        return self.inner.upstreams_for(namespace)

    def routetables_to(self, namespace: str, name: str) -> Sequence[Obj]:
        return self.inner.routetables_to(namespace, name)

    def policy_set(self) -> PolicySet:
        return self.inner.policy_set()

    def ready(self) -> bool:
        return self.inner.ready()
