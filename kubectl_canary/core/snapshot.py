"""What a command knows about one service before it plans: its objects as read from a store.

A `Snapshot` holds the service's RouteTable and its Deployments by version (plans write the Service
and Upstream whole, so they are not read). It is built from plain objects by `snapshot_of`, so plans
and status can be computed (and tested) from any list of dicts, whatever store they came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kubectl_canary.core import names
from kubectl_canary.core.errors import NotFound
from kubectl_canary.core.kinds import (
    DEPLOYMENT,
    NAMESPACE,
    ROUTETABLE,
    Obj,
    ObjectRef,
    annotations_of,
    labels_of,
)


@dataclass(frozen=True)
class Snapshot:
    """The current objects of service `service` in `namespace` (None where an object does not exist)."""

    service: str
    namespace: str
    routetable: Obj | None = None
    deployments: Mapping[str, Obj] = field(default_factory=lambda: MappingProxyType({}))

    def deployment(self, version: str) -> Obj | None:
        return self.deployments.get(version)

    def role(self, version: str) -> str | None:
        """The role annotation of the Deployment running `version` (None without one)."""
        found = self.deployment(version)
        return annotations_of(found).get(names.ROLE) if found is not None else None

    @property
    def api_group(self) -> str | None:
        """The RouteTable's apiGroup label, kept by every plan. Without one the plugin sends none: the
        webhook injects the Namespace's or the policy's group (SPEC 2), so the two never disagree."""
        return labels_of(self.routetable).get(names.API_GROUP) if self.routetable else None

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.service}"

    def read_objects(self) -> dict[ObjectRef, Obj | None]:
        """What this snapshot read, by reference: the RouteTable (None when it does not exist) and each
        Deployment of the service. Executing a plan made from it needs to ask the store only for others."""
        found: dict[ObjectRef, Obj | None] = {
            ObjectRef(ROUTETABLE.kind, self.namespace, names.routetable_name(self.service)): self.routetable
        }
        found.update((ObjectRef.of(d), d) for d in self.deployments.values())
        return found

    def not_found(self) -> NotFound:
        """The error for a service without its RouteTable, saying how to create it."""
        return NotFound(
            f"service {self.service} not found in namespace {self.namespace}: there is no RouteTable "
            f"{self.namespace}/{names.routetable_name(self.service)}; create it with "
            f"`kubectl canary init {self.service} --version V`"
        )


def deployment_version(obj: Obj, service: str) -> str | None:
    """The version a Deployment runs for `service` (its selector's `version`), or None if not the service's."""
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if selector.get(names.APP_KEY) != service or not selector.get(names.VERSION_KEY):
        return None
    return str(selector[names.VERSION_KEY])


def _named(objects: list[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in objects if o.get("kind") == kind and (o.get("metadata") or {}).get("name") == name), None)


def snapshot_of(service: str, namespace: str, objects: Iterable[Obj]) -> Snapshot:
    """Pick the service's objects out of `objects` (anything else, e.g. other services, is ignored).

    Deployments belong to the service when their selector has `app: S` and a `version`; when two
    claim the same version, the one named `S-V` (the plugin's name) wins.
    """
    mine = [o for o in objects if (o.get("metadata") or {}).get("namespace", namespace) == namespace
            or o.get("kind") == NAMESPACE.kind]
    deployments: dict[str, Obj] = {}
    for obj in mine:
        if obj.get("kind") != DEPLOYMENT.kind:
            continue
        version = deployment_version(obj, service)
        named = (obj.get("metadata") or {}).get("name") == names.deployment_name(service, version or "")
        if version is not None and (version not in deployments or named):
            deployments[version] = obj
    return Snapshot(
        service=service,
        namespace=namespace,
        routetable=_named(mine, ROUTETABLE.kind, names.routetable_name(service)),
        deployments=MappingProxyType(dict(sorted(deployments.items()))),
    )
