"""The file-backed Lookup: objects read once from a directory of YAML (`--state DIR`, `review`), or given.

Everything it answers is worked out when it is made (the indexes a watch cache keeps as events arrive,
`webhook.cluster.index`), so `serve --state` answers requests from it as the cluster implementation does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from kubectl_canary.core.kinds import CANARY_POLICY, DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, UPSTREAM, Obj
from kubectl_canary.core.policy import read_policies
from kubectl_canary.core.routetable import UpstreamRef
from kubectl_canary.manifests import read_dir
from webhook.admission.lookup import PolicySet, name_of, namespace_of, pods_namespaces, upstreams_named

V = TypeVar("V", bound=Hashable)


def _grouped(objects: Iterable[Obj], values: Callable[[Obj], Iterable[V]]) -> dict[V, list[Obj]]:
    """`objects` by each of their values, in order (what `webhook.cluster.index.Index` keeps for a watch cache)."""
    found: dict[V, list[Obj]] = {}
    for obj in objects:
        for value in dict.fromkeys(values(obj)):
            found.setdefault(value, []).append(obj)
    return found


class StateLookup:
    """A Lookup over objects read once from a directory of YAML (`--state DIR`), or given directly.

    Everything it answers is worked out once, at construction: the objects by name, the Deployments by
    namespace, the indexes and the policies (`serve --state` answers requests from it too)."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._by_kind: dict[str, list[Obj]] = {}
        self._by_name: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:
            kind = f"{obj.get('apiVersion', '')}/{obj.get('kind', '')}"
            self._by_kind.setdefault(kind, []).append(obj)
            self._by_name.setdefault((kind, namespace_of(obj), name_of(obj)), obj)  # the first one wins
        self._deployments = _grouped(self._all(DEPLOYMENT.api_version, DEPLOYMENT.kind), lambda d: (namespace_of(d),))
        self._upstreams_for = _grouped(self._all(UPSTREAM.api_version, UPSTREAM.kind), pods_namespaces)
        self._routetables_to = _grouped(self._all(ROUTETABLE.api_version, ROUTETABLE.kind), upstreams_named)
        self._policy_set = read_policies(self._all(CANARY_POLICY.api_version, CANARY_POLICY.kind))

    @classmethod
    def from_dir(cls, root: Path) -> StateLookup:
        """Every object in the YAML files below `root` (InvalidObject when one cannot be read)."""
        return cls(found.obj for found in read_dir(Path(root)))

    def _all(self, api_version: str, kind: str) -> list[Obj]:
        return self._by_kind.get(f"{api_version}/{kind}", [])

    def find(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The object of that kind, namespace ("" for cluster-scoped) and name, or None."""
        return self._by_name.get((f"{api_version}/{kind}", namespace, name))

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.find(UPSTREAM.api_version, UPSTREAM.kind, namespace, name)

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        return list(self._deployments.get(namespace, ()))

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        return self.find(NAMESPACE.api_version, NAMESPACE.kind, "", name)

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        return self.find(SERVICE.api_version, SERVICE.kind, namespace, name)

    def upstreams_for(self, namespace: str) -> Sequence[Obj]:
        return list(self._upstreams_for.get(namespace, ()))

    def routetables_to(self, namespace: str, name: str) -> Sequence[Obj]:
        return list(self._routetables_to.get(UpstreamRef(namespace, name), ()))

    def policy_set(self) -> PolicySet:
        return self._policy_set

    def ready(self) -> bool:
        return True
