"""The RouteTable model shared by the plugin and the webhook: routes, destinations and weights.

A Gloo RouteTable (`gateway.solo.io/v1`) is kept as a dict. These functions read it into frozen values
that say, for every route, where its traffic goes: each `single` or `multi` destination, with the
upstream it names (an empty namespace means the RouteTable's own), its subset and its weight. Routing
semantics follow Gloo v1.22 (see the API notes): multi weights are relative, a missing weight counts
as 0, and a total below 1 is an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core.kinds import Obj


@dataclass(frozen=True, order=True)
class UpstreamRef:
    """An Upstream named by a destination, with its namespace resolved."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Destination:
    """One place a route sends traffic: a `single` destination or one entry of `multi`.

    `position` is the index within `multi.destinations` (None for `single`); `upstream` is None for
    destinations that do not name an Upstream (kube service refs, consul); `weight` is None where the
    entry has none (and always for `single`).
    """

    route_index: int
    route: str
    position: int | None
    upstream: UpstreamRef | None
    subset: tuple[tuple[str, str], ...]
    weight: int | None
    header_matched: bool

    @property
    def subset_values(self) -> dict[str, str]:
        return dict(self.subset)

    def describe(self) -> str:
        """`route /echo -> echo/echo subset version=v3`, the way denials and warnings name it."""
        target = str(self.upstream) if self.upstream else "a non-Upstream destination"
        subset = ",".join(f"{k}={v}" for k, v in self.subset)
        return f"route {self.route} -> {target}" + (f" subset {subset}" if subset else "")


@dataclass(frozen=True)
class WeightedRoute:
    """A route whose action is `multi`: its label and the weight of each destination (None if unset)."""

    route_index: int
    route: str
    weights: tuple[int | None, ...]

    @property
    def total(self) -> int:
        return sum(w or 0 for w in self.weights)


def routes(rt: Mapping[str, Any]) -> list[Obj]:
    """The RouteTable's routes (an empty list when `spec.routes` is absent or not a list)."""
    found = (rt.get("spec") or {}).get("routes")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _matcher_path(matcher: Mapping[str, Any]) -> str:
    for key in ("prefix", "exact", "regex"):
        if isinstance(matcher.get(key), str):
            return str(matcher[key]) if key == "prefix" else f"{key}:{matcher[key]}"
    return "/"


def headers_of(route: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header (name, value) pairs of the route's matchers, in order."""
    found: list[tuple[str, str]] = []
    for matcher in route.get("matchers") or []:
        for header in (matcher or {}).get("headers") or []:
            if isinstance(header, dict):
                found.append((str(header.get("name", "")), str(header.get("value", ""))))
    return found


def route_label(route: Mapping[str, Any]) -> str:
    """How messages name a route: its first path matcher, plus its headers (`/echo [stage=canary]`).

    A route without matchers matches `/` in Gloo; a route whose label would be ambiguous still gets one
    (its `name` is appended when it has one, so users can find it).
    """
    matchers = route.get("matchers") or []
    path = _matcher_path(matchers[0]) if matchers and isinstance(matchers[0], dict) else "/"
    headers = headers_of(route)
    label = path + (" [" + ",".join(f"{n}={v}" for n, v in headers) + "]" if headers else "")
    name = route.get("name")
    return f"{label} ({name})" if isinstance(name, str) and name else label


def _upstream_ref(dest: Mapping[str, Any], own_namespace: str) -> UpstreamRef | None:
    upstream = dest.get("upstream")
    if not isinstance(upstream, dict) or not upstream.get("name"):
        return None
    return UpstreamRef(str(upstream.get("namespace") or own_namespace), str(upstream["name"]))


def _subset(dest: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    values = ((dest.get("subset") or {}).get("values")) or {}
    return tuple(sorted((str(k), str(v)) for k, v in values.items())) if isinstance(values, dict) else ()


def _weight(entry: Mapping[str, Any]) -> int | None:
    weight = entry.get("weight")
    return weight if isinstance(weight, int) and not isinstance(weight, bool) else None


def weight_of(entry: Mapping[str, Any]) -> int | None:
    """The weight of one `multi.destinations` entry (None when unset or not an integer)."""
    return _weight(entry)


def route_action(route: Mapping[str, Any]) -> Mapping[str, Any]:
    action = route.get("routeAction")
    return action if isinstance(action, dict) else {}


def multi_destinations(route: Mapping[str, Any]) -> list[Obj] | None:
    """The `multi.destinations` list of a route, or None when the route is not `multi`."""
    multi = route_action(route).get("multi")
    if not isinstance(multi, dict):
        return None
    found = multi.get("destinations")
    return [d if isinstance(d, dict) else {} for d in found] if isinstance(found, list) else []


def destinations(rt: Mapping[str, Any]) -> Iterator[Destination]:
    """Every destination of every route, in order."""
    own = str((rt.get("metadata") or {}).get("namespace") or "")
    for index, route in enumerate(routes(rt)):
        label = route_label(route)
        header = bool(headers_of(route))
        single = route_action(route).get("single")
        if isinstance(single, dict):
            yield Destination(index, label, None, _upstream_ref(single, own), _subset(single), None, header)
        for position, entry in enumerate(multi_destinations(route) or []):
            dest = entry.get("destination") or {}
            yield Destination(
                index, label, position, _upstream_ref(dest, own), _subset(dest), _weight(entry), header
            )


def weighted_routes(rt: Mapping[str, Any]) -> Iterator[WeightedRoute]:
    """Every `multi` route with its weights."""
    for index, route in enumerate(routes(rt)):
        entries = multi_destinations(route)
        if entries is not None:
            yield WeightedRoute(index, route_label(route), tuple(_weight(e) for e in entries))


def traffic_shares(route: Mapping[str, Any]) -> dict[tuple[tuple[str, str], ...], float]:
    """The share (0..100) of a route's traffic that each subset receives, as Gloo would send it.

    `single` sends everything to its subset; `multi` divides by relative weights. A route whose
    weights total less than 1 sends nothing (Gloo rejects it), so it has no shares.
    """
    single = route_action(route).get("single")
    if isinstance(single, dict):
        return {_subset(single): 100.0}
    entries = multi_destinations(route) or []
    total = sum(_weight(e) or 0 for e in entries)
    shares: dict[tuple[tuple[str, str], ...], float] = {}
    if total < 1:
        return shares
    for entry in entries:
        key = _subset(entry.get("destination") or {})
        shares[key] = shares.get(key, 0.0) + 100.0 * (_weight(entry) or 0) / total
    return shares
