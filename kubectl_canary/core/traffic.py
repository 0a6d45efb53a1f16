"""What a RouteTable routes, as the rules judge it: the typed `Routing` view and the analyses of a change.

`Routing` is a RouteTable read once (its routes, labels, destinations, weights, and each non-header
route's shares per target), every part computed on first use and then kept, so rules that ask for the
same thing share one answer. The analyses compare an old Routing with a new one: every version's share
of a route's non-header traffic (`shifts`), versions that gain weighted traffic without a header-matched
phase (`unphased`); what routes reach, the paths they claim and the objects they send traffic to, is
`kubectl_canary.core.reach`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.reach import PathClaim, Reference, claims, references
from kubectl_canary.core.routetable import (
    Destination,
    WeightedRoute,
    destination_of,
    destinations,
    is_header_route,
    matchers,
    multi_destinations,
    named_ref,
    own_namespace,
    route_action,
    route_label,
    routes,
    subset_of,
    weight_of,
    weighted_routes,
)

# Shares are fractions of relative weights; compare them with a little tolerance.
_EPSILON: Final = 1e-9


@dataclass(frozen=True, order=True)
class Target:
    """Where a destination sends traffic: the object it names (`Upstream ns/name`, `Service ns/name`, or
    "" for other kinds) and its subset."""

    backend: str
    subset: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        """`v2` for the usual `version` subset, else the subset's `k=v` pairs, else the object."""
        if len(self.subset) == 1 and self.subset[0][0] == "version":
            return self.subset[0][1]
        if self.subset:
            return ",".join(f"{k}={v}" for k, v in self.subset)
        return self.backend or "a destination without an Upstream"


def _backend(dest: Mapping[str, Any], own: str) -> str:
    upstream, kube = named_ref(dest.get("upstream"), own), dest.get("kube")
    service = named_ref(kube.get("ref"), own) if isinstance(kube, dict) else None
    return f"Upstream {upstream}" if upstream else (f"Service {service}" if service else "")


def _target(dest: object, own: str) -> Target:
    found = dest if isinstance(dest, dict) else {}
    return Target(_backend(found, own), subset_of(found))


# Matcher fields whose value may be left out without changing what the matcher matches.
_DEFAULTS: Final = {"caseSensitive": True, "methods": [], "headers": [], "queryParameters": []}


def normalised_matcher(matcher: Mapping[str, Any]) -> dict[str, Any]:
    """`matcher` without the fields that say what is the default anyway (`caseSensitive: true`, empty
    `methods`, `headers`, `queryParameters`, or null ones), so equal matchers compare equal."""
    return {k: v for k, v in matcher.items() if v is not None and not (k in _DEFAULTS and v == _DEFAULTS[k])}


def route_key(route: Mapping[str, Any]) -> str:
    """What pairs a route with the same route in another version of the RouteTable: its normalised
    matchers (a route without any matches `/`, like one with an empty matcher)."""
    found = [normalised_matcher(m) for m in matchers(route)] or [{}]
    return json.dumps(found, sort_keys=True, default=str)


def _route_shares(route: Mapping[str, Any], own: str) -> dict[Target, float]:
    """The share (0..100) of the route's traffic each target gets; empty when it routes to no destinations
    this model sees (an UpstreamGroup, a delegation, a redirect) or its weights total less than 1."""
    single = route_action(route).get("single")
    if isinstance(single, dict):
        return {_target(single, own): 100.0}
    entries = multi_destinations(route) or []
    weights = [max(weight_of(e) or 0, 0) for e in entries]
    total = sum(weights)
    shares: dict[Target, float] = {}
    if total < 1:
        return shares
    for entry, weight in zip(entries, weights, strict=True):
        target = _target(destination_of(entry), own)
        shares[target] = shares.get(target, 0.0) + 100.0 * weight / total
    return shares


@dataclass(frozen=True)
class RouteTraffic:
    """A route that takes requests without headers: how messages name it, what pairs it with the same
    route in another version of the RouteTable (its matchers), and each target's share."""

    key: str
    label: str
    shares: Mapping[Target, float] = field(default_factory=dict)


def traffic(rt: Mapping[str, Any]) -> list[RouteTraffic]:
    """Every non-header route of `rt` with its shares, in order; of routes with the same matchers, the first
    (Gloo gives a request to the first route that matches)."""
    own, seen, found = own_namespace(rt), set(), []
    for route in routes(rt):
        if is_header_route(route):
            continue
        key = route_key(route)
        if key not in seen:
            seen.add(key)
            found.append(RouteTraffic(key, route_label(route), _route_shares(route, own)))
    return found


def header_targets(rt: Mapping[str, Any]) -> set[Target]:
    """The targets that header-matched routes of `rt` send traffic to."""
    own = own_namespace(rt)
    return {t for route in routes(rt) if is_header_route(route)
            for t, share in _route_shares(route, own).items() if share > 0}


def _backends(rt: Mapping[str, Any]) -> set[str]:
    """Every object any route of `rt` names, with or without traffic."""
    own, found = own_namespace(rt), set()
    for route in routes(rt):
        action = route_action(route)
        found.add(_target(action.get("single"), own).backend)
        found.update(_target(destination_of(e), own).backend for e in multi_destinations(route) or [])
    return found - {""}


def points(share: float) -> str:
    """A share as messages print it: `20`, `33.3`."""
    return f"{round(share, 1):g}"


@dataclass(frozen=True)
class Shift:
    """A target whose share of a route's non-header traffic changes from `before` to `after`."""

    route: str
    target: Target
    before: float
    after: float

    @property
    def change(self) -> float:
        return abs(self.after - self.before)


def shifts(old: Routing, new: Routing) -> list[Shift]:
    """Every change of a target's share on the routes both RouteTables have (paired by their matchers).

    A route that is new, or whose weights are unusable on either side, is not a shift of traffic.
    """
    before = {r.key: r for r in old.traffic}
    found = []
    for route in new.traffic:
        was = before.get(route.key)
        if was is None or not was.shares or not route.shares:
            continue
        for target in sorted(set(was.shares) | set(route.shares)):
            old_share, new_share = was.shares.get(target, 0.0), route.shares.get(target, 0.0)
            if abs(old_share - new_share) > _EPSILON:
                found.append(Shift(route.label, target, old_share, new_share))
    return found


def steps_over(old: Routing, new: Routing, limit: int) -> list[Shift]:
    """Per route, the largest shift over `limit` points (on a tie, the target that gains traffic)."""
    largest: dict[str, Shift] = {}
    for shift in shifts(old, new):
        current = largest.get(shift.route)
        if shift.change > limit + _EPSILON and (current is None or _rank(shift) > _rank(current)):
            largest[shift.route] = shift
    return list(largest.values())


def _rank(shift: Shift) -> tuple[float, bool]:
    return shift.change, shift.after > shift.before


@dataclass(frozen=True)
class Unphased:
    """A target that gets `share` of a route's non-header traffic without having had a header-matched phase."""

    route: str
    target: Target
    share: float


def unphased(old: Routing | None, new: Routing) -> list[Unphased]:
    """The targets of `new` that gain non-header traffic without a header-matched phase before.

    A target may have non-header traffic when `old` had a header-matched route to it, or already gave it
    non-header traffic. A route's primary (its largest share; on a tie the first) is exempt when `old`
    routed nothing to its Upstream at all: the first version of a new service (every CREATE) has no
    earlier version to be a canary of.
    """
    known: frozenset[Target] | set[Target] = frozenset()
    backends: frozenset[str] = frozenset()
    if old is not None:
        known = old.header_targets | {t for r in old.traffic for t, s in r.shares.items() if s > _EPSILON}
        backends = old.backends
    found = []
    for route in new.traffic:
        positive = [(t, s) for t, s in route.shares.items() if s > _EPSILON]
        if not positive:
            continue
        primary = max(positive, key=lambda pair: pair[1])[0]
        for target, share in positive:
            if target in known or (target == primary and target.backend not in backends):
                continue
            found.append(Unphased(route.label, target, share))
    return found


@dataclass(frozen=True, eq=False)
class Routing:
    """A RouteTable as the rules read it, each part parsed on first use and kept (see the module docstring).

    `obj` must not change while the view is used; its namespace should be filled in (refs without one
    point to it).
    """

    obj: Obj

    @cached_property
    def routes(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(routes(self.obj))

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """How messages name each route (`route_label`), made once for every analysis that names them."""
        return tuple(route_label(route) for route in self.routes)

    @cached_property
    def destinations(self) -> tuple[Destination, ...]:
        return tuple(destinations(self.obj, self.labels))

    @cached_property
    def weighted(self) -> tuple[WeightedRoute, ...]:
        return tuple(weighted_routes(self.obj, self.labels))

    @cached_property
    def traffic(self) -> tuple[RouteTraffic, ...]:
        return tuple(traffic(self.obj))

    @cached_property
    def header_targets(self) -> frozenset[Target]:
        return frozenset(header_targets(self.obj))

    @cached_property
    def backends(self) -> frozenset[str]:
        return frozenset(_backends(self.obj))

    @cached_property
    def claims(self) -> tuple[PathClaim, ...]:
        return tuple(claims(self.obj))

    @cached_property
    def references(self) -> tuple[Reference, ...]:
        return tuple(references(self.obj))
