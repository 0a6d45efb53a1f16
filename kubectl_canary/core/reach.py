"""What a RouteTable's routes reach: the paths they claim and the objects they send traffic to.

`claims` are matched against a policy's allowed prefixes by whole path segments (`under`, `outside`);
`references` name every Upstream, Service and UpstreamGroup a route sends to. `traffic.Routing` keeps both
for the rules that ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core.routetable import (
    destination_of,
    matchers,
    multi_destinations,
    named_ref,
    own_namespace,
    route_action,
    route_label,
    routes,
)


@dataclass(frozen=True)
class PathClaim:
    """A path a route's matcher claims: `kind` is prefix, exact or regex."""

    route: str
    kind: str
    path: str

    def __str__(self) -> str:
        return self.path if self.kind == "prefix" else f"{self.kind} {self.path}"


def claims(rt: Mapping[str, Any]) -> list[PathClaim]:
    """Every path the routes of `rt` match; a route without matchers (or a matcher without a path) is `/`."""
    found = []
    for route in routes(rt):
        label = route_label(route)
        for matcher in matchers(route) or [{}]:
            kind = next((k for k in ("prefix", "exact", "regex") if isinstance(matcher.get(k), str)), None)
            found.append(PathClaim(label, kind, str(matcher[kind])) if kind else PathClaim(label, "prefix", "/"))
    return found


def under(path: str, prefix: str) -> bool:
    """Whether `path` lies under the allowed `prefix`, by whole path segments.

    `/echo` allows `/echo` and `/echo/x`, not `/echoes`; `/echo/` allows `/echo/x` but not `/echo`
    (whose route would also catch `/echoes`, Envoy matching prefixes by characters); `/` allows all.
    """
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def outside(claim: PathClaim, allowed: Sequence[str]) -> bool:
    """Whether the claim is not allowed by `allowed` (expanded) prefixes. A regex always is: what it
    matches cannot be proven to stay under a prefix."""
    return claim.kind == "regex" or not any(under(claim.path, prefix) for prefix in allowed)


@dataclass(frozen=True, order=True)
class Reference:
    """An object a route sends traffic to: `kind` is Upstream, Service (a kube destination) or UpstreamGroup."""

    route: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def references(rt: Mapping[str, Any]) -> list[Reference]:
    """Every Upstream, Service and UpstreamGroup the routes of `rt` name, once per route, in order."""
    own, found = own_namespace(rt), []
    for route in routes(rt):
        label, action = route_label(route), route_action(route)
        dests = [action.get("single")] + [destination_of(e) for e in multi_destinations(route) or []]
        for dest in dests:
            if not isinstance(dest, dict):
                continue
            upstream, kube = named_ref(dest.get("upstream"), own), dest.get("kube")
            service = named_ref(kube.get("ref"), own) if isinstance(kube, dict) else None
            if upstream:
                found.append(Reference(label, "Upstream", upstream.namespace, upstream.name))
            elif service:
                found.append(Reference(label, "Service", service.namespace, service.name))
        group = named_ref(action.get("upstreamGroup"), own)
        if group:
            found.append(Reference(label, "UpstreamGroup", group.namespace, group.name))
    return list(dict.fromkeys(found))
