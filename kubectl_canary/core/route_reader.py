"""Reading one managed (base) route back: the destination it is built on, its version subset, and for
a weighted route its two versions and the canary's share. A route in a form the plugin does not write
raises `UnmanagedShape` naming the RouteTable, the route and what differs (`core.routes` reads whole
RouteTables with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.routetable import UpstreamRef, multi_destinations, named_ref, own_namespace, route_action


@dataclass(frozen=True)
class BaseRoute:
    """One managed route read back: its index, the destination it is built on, and what it says."""

    index: int
    dest: Obj
    primary: str
    canary: str | None
    weight: int


class RouteReader:
    """Reads one RouteTable's managed routes, raising `UnmanagedShape` naming what differs."""

    def __init__(self, rt: Mapping[str, Any], service: str, upstream: UpstreamRef) -> None:
        meta = rt.get("metadata") or {}
        self.where = f"RouteTable {meta.get('namespace', '')}/{meta.get('name', '')}"
        self.namespace = own_namespace(rt)
        self.service = service
        self.upstream = upstream

    def fail(self, found: str) -> UnmanagedShape:
        return UnmanagedShape(
            f"{self.where} is not in a shape kubectl-canary manages: {found}; "
            "restore the routes it wrote (see `kubectl canary status`), or manage this service by hand"
        )

    def version(self, dest: Mapping[str, Any], label: str) -> str:
        values = (dest.get("subset") or {}).get("values") or {}
        if not values:
            raise UnmanagedShape(
                f"{self.where}: route {label} sends to Upstream {self.upstream} without a version subset; bring "
                f"service {self.service} under kubectl-canary with `kubectl canary adopt {self.service} --version V`"
            )
        if set(values) != {names.VERSION_KEY} or not isinstance(values[names.VERSION_KEY], str):
            raise self.fail(f"route {label} selects subset {dict(values)}, expected only '{names.VERSION_KEY}'")
        return str(values[names.VERSION_KEY])

    def single(self, route: Mapping[str, Any], index: int, label: str) -> BaseRoute:
        dest = route_action(route)["single"]
        return BaseRoute(index, without_subset(dest), self.version(dest, label), None, 0)

    def multi(self, route: Mapping[str, Any], index: int, label: str) -> BaseRoute:
        entries = multi_destinations(route) or []
        if len(entries) != 2:
            raise self.fail(f"route {label} splits traffic {len(entries)} ways, expected primary and canary")
        for entry in entries:
            extra = set(entry) - {"destination", "weight"}
            if extra:
                raise self.fail(f"route {label} has a weighted destination with fields {sorted(extra)} "
                                "the plugin does not write")
        dests = [entry.get("destination") or {} for entry in entries]
        if any(named_ref(d.get("upstream"), self.namespace) != self.upstream for d in dests):
            raise self.fail(f"route {label} splits traffic between Upstream {self.upstream} and another destination")
        if without_subset(dests[0]) != without_subset(dests[1]):
            raise self.fail(f"route {label} sends to its two versions with different destination options")
        weights = [e.get("weight") or 0 for e in entries]
        if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in weights) or sum(weights) < 1:
            raise self.fail(f"route {label} has weights {weights}, which send no traffic")
        # Weights are relative in Gloo; the webhook normalises them to 100, but read any positive total.
        share = round(100 * weights[1] / sum(weights))
        return BaseRoute(index, without_subset(dests[0]), self.version(dests[0], label),
                         self.version(dests[1], label), share)


def without_subset(dest: Mapping[str, Any]) -> Obj:
    """`dest` without its `subset`: what the versions of one route share."""
    return {k: v for k, v in dest.items() if k != "subset"}
