"""The routes the plugin manages for one service, inside any RouteTable: read them back, and rewrite them.

The plugin manages the routes whose action sends to the service's Upstream, wherever they sit in the
RouteTable, and never touches any other route. Each managed route (a *base* route) is, by phase:

- `stable`: the route as the user wrote it, with `single` to the primary's `version` subset;
- `header` and `weighted`: a *header twin* directly above it (the same matchers plus the header rule,
  the same options, `single` to the canary), and the route itself `multi` between primary (`100-N`)
  and canary (`N`).

For the seed's one-route table this is exactly the seed chart's shape. `recognise` reads any
RouteTable back into the `RouteState` every managed route agrees on, and names what it found where a
route differs, so the plugin never overwrites routes it does not understand (each route is read by
`core.route_reader`); `rewrite` renders a new state into the same RouteTable, leaving every other
route, the route order and all options as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.route_reader import BaseRoute, RouteReader
from kubectl_canary.core.routetable import (
    UpstreamRef,
    matchers,
    multi_destinations,
    named_ref,
    own_namespace,
    route_action,
    route_label,
    routes,
)

Headers = tuple[tuple[str, str], ...]
# A twin's `name`, when its base route has one: route names should stay unique within a RouteTable.
TWIN_SUFFIX = "-canary"


@dataclass(frozen=True)
class RouteState:
    """Where a service's traffic goes: the primary, and the canary with its weight and header rule.

    `canary` is None in phase `stable`. `weight` is the canary's share (0..100) of the traffic that
    does not carry the header; with a canary and weight 0 the phase is `header`.
    """

    primary: str
    canary: str | None = None
    weight: int = 0
    headers: Headers = ()

    @property
    def phase(self) -> str:
        if self.canary is None:
            return "stable"
        return "weighted" if self.weight > 0 else "header"

    def versions(self) -> tuple[str, ...]:
        return (self.primary,) if self.canary is None else (self.primary, self.canary)


@dataclass(frozen=True)
class Managed:
    """The managed routes of one RouteTable: the state they agree on, and where the base routes are."""

    state: RouteState
    bases: tuple[int, ...]
    paths: tuple[str, ...]


def sends_to(route: Mapping[str, Any], upstream: UpstreamRef, namespace: str) -> bool:
    """Whether the route's action sends (some of) its traffic to `upstream`."""
    action = route_action(route)
    single = action.get("single")
    if isinstance(single, dict):
        return named_ref(single.get("upstream"), namespace) == upstream
    entries = multi_destinations(route) or []
    return any(named_ref((e.get("destination") or {}).get("upstream"), namespace) == upstream for e in entries)


def routes_to(rt: Mapping[str, Any], upstream: UpstreamRef) -> list[int]:
    """The indices of the RouteTable's routes that send traffic to `upstream`."""
    namespace = own_namespace(rt)
    return [i for i, route in enumerate(routes(rt)) if sends_to(route, upstream, namespace)]


def destination(upstream: UpstreamRef, version: str) -> Obj:
    """A destination to one version of the service, as the seed's chart writes it."""
    return {
        "upstream": {"name": upstream.name, "namespace": upstream.namespace},
        "subset": {"values": {names.VERSION_KEY: version}},
    }


def with_version(dest: Mapping[str, Any], version: str) -> Obj:
    """`dest` (kept whole: its upstream spelling, destinationSpec) sending to `version`'s subset."""
    out = copy.deepcopy(dict(dest))
    out["subset"] = {"values": {names.VERSION_KEY: version}}
    return out


def initial_route(upstream: UpstreamRef, prefix: str, version: str) -> Obj:
    """The one route of a new service: `prefix` to `version` (the seed's phase-1 route)."""
    return {"matchers": [{"prefix": prefix}], "routeAction": {"single": destination(upstream, version)}}


def _twin_matchers(base: Mapping[str, Any], headers: Headers) -> list[Obj]:
    # A route without matchers matches `/` (Gloo), and every matcher of a non-empty list needs a path.
    found = matchers(base) or [{"prefix": "/"}]
    added = [{"name": n, "value": v} for n, v in sorted(headers)]
    return [{"headers": [*copy.deepcopy(m.get("headers") or []), *added],
             **{k: copy.deepcopy(v) for k, v in m.items() if k != "headers"}} for m in found]


def twin(base: Mapping[str, Any], dest: Mapping[str, Any], canary: str, headers: Headers) -> Obj:
    """The header twin of `base`: its matchers with `headers` added, its options, `single` to `canary`."""
    out: Obj = {}
    for key, value in base.items():
        if key == "matchers":
            out[key] = _twin_matchers(base, headers)
        elif key == "routeAction":
            out[key] = {"single": with_version(dest, canary)}
        elif key == "name" and isinstance(value, str):
            out[key] = value + TWIN_SUFFIX
        else:
            out[key] = copy.deepcopy(value)
    out.setdefault("matchers", _twin_matchers(base, headers))
    out.setdefault("routeAction", {"single": with_version(dest, canary)})
    return out


def render_base(base: Mapping[str, Any], dest: Mapping[str, Any], state: RouteState) -> list[Obj]:
    """The routes that stand for one managed route in `state` (its twin, if any, first)."""
    main = {k: copy.deepcopy(v) for k, v in base.items()}
    if state.canary is None:
        main["routeAction"] = {"single": with_version(dest, state.primary)}
        return [main]
    main["routeAction"] = {"multi": {"destinations": [
        {"destination": with_version(dest, state.primary), "weight": 100 - state.weight},
        {"destination": with_version(dest, state.canary), "weight": state.weight},
    ]}}
    return [twin(base, dest, state.canary, state.headers), main]


def _twin_headers(candidate: Mapping[str, Any], base: Mapping[str, Any]) -> Headers | None:
    """The headers `candidate` adds to `base`'s first matcher, when it adds some; None otherwise."""
    theirs, ours = matchers(candidate), matchers(base) or [{"prefix": "/"}]
    if not theirs:
        return None
    had = len(ours[0].get("headers") or [])
    added = (theirs[0].get("headers") or [])[had:]
    pairs = [(h.get("name"), h.get("value")) for h in added if isinstance(h, dict)]
    if not pairs or len(pairs) != len(added) or not all(isinstance(n, str) and isinstance(v, str) for n, v in pairs):
        return None
    return tuple(sorted((str(n), str(v)) for n, v in pairs))


def _same_twin(found: Mapping[str, Any], expected: Obj) -> bool:
    """Whether a route is the header twin the plugin writes, judged by what routes requests (its matchers
    and action). Its other fields are the base route's, rendered again at each write: an option a user
    sets on their route mid-rollout reaches the twin at the next command."""
    return all(found.get(key) == expected.get(key) for key in ("matchers", "routeAction"))


def recognise(rt: Mapping[str, Any], service: str, upstream: UpstreamRef) -> Managed:
    """Read the routes of `rt` that send to `upstream` back into the state they agree on.

    UnmanagedShape when no route sends there, when a route sends there in a form the plugin does not
    write (or without a version subset: not adopted yet), or when two managed routes disagree.
    """
    reader = RouteReader(rt, service, upstream)
    found = routes(rt)
    labels = [route_label(r) for r in found]
    indices = routes_to(rt, upstream)
    if not indices:
        raise reader.fail(f"no route sends traffic to Upstream {upstream}")
    bases: list[BaseRoute] = []
    twins: dict[int, Headers] = {}
    for index in indices:
        route = found[index]
        action = route_action(route)
        if set(action) == {"single"}:
            bases.append(reader.single(route, index, labels[index]))
        elif set(action) == {"multi"}:
            bases.append(reader.multi(route, index, labels[index]))
        else:
            raise reader.fail(f"route {labels[index]} uses {sorted(action)}, expected single or multi")
    by_index = {b.index: b for b in bases}
    for base in bases:
        above = by_index.get(base.index - 1)
        if base.canary is None or above is None or above.canary is not None or above.primary != base.canary:
            continue
        headers = _twin_headers(found[above.index], found[base.index])
        if headers is not None and _same_twin(found[above.index], twin(found[base.index], base.dest, base.canary,
                                                                          headers)):
            twins[base.index] = headers
    managed = [b for b in bases if b.index + 1 not in twins]
    for base in managed:
        if base.canary is not None and base.index not in twins:
            raise reader.fail(f"route {labels[base.index]} splits traffic between {base.primary} and {base.canary} "
                              "without the header route the plugin writes above it")
    states = [(b, RouteState(b.primary, b.canary, b.weight if b.canary else 0, twins.get(b.index, ())))
              for b in managed]
    first_base, first = states[0]
    for base, state in states[1:]:
        if state != first:
            raise reader.fail(f"routes {labels[first_base.index]} and {labels[base.index]} disagree "
                              f"({_describe(first)} against {_describe(state)})")
    return Managed(first, tuple(b.index for b in managed), tuple(labels[b.index] for b in managed))


def _describe(state: RouteState) -> str:
    if state.canary is None:
        return f"all to {state.primary}"
    return f"{state.primary} {100 - state.weight}, {state.canary} {state.weight}"


def rewrite(rt: Mapping[str, Any], upstream: UpstreamRef, managed: Managed, state: RouteState) -> list[Obj]:
    """The routes of `rt` with every managed route rendered in `state`; every other route as it was."""
    found = routes(rt)
    reader = RouteReader(rt, "", upstream)
    twins = {i - 1 for i in managed.bases if managed.state.canary is not None}
    out: list[Obj] = []
    for index, route in enumerate(found):
        if index in twins:
            continue
        if index not in managed.bases:
            out.append(copy.deepcopy(route))
            continue
        action = route_action(route)
        base = reader.single(route, index, "") if "single" in action else reader.multi(route, index, "")
        out += render_base({k: v for k, v in route.items()}, base.dest, state)
    return out


def set_versions(rt: Mapping[str, Any], upstream: UpstreamRef, version: str) -> tuple[list[Obj], list[str]]:
    """For `adopt`: the routes of `rt` with every `single` route to `upstream` that has no subset sent to
    `version`'s subset (the labels of the routes changed); other routes as they were."""
    namespace = own_namespace(rt)
    out: list[Obj] = []
    changed: list[str] = []
    for route in routes(rt):
        single = route_action(route).get("single")
        if isinstance(single, dict) and sends_to(route, upstream, namespace) and not (single.get("subset") or {}):
            route = {**copy.deepcopy(route), "routeAction": {"single": with_version(single, version)}}
            changed.append(route_label(route))
        out.append(copy.deepcopy(route))
    return out, changed


def first_prefix(rt: Mapping[str, Any], managed: Managed) -> str | None:
    """The path of the first managed route (what `status` shows as the prefix)."""
    found: Sequence[Obj] = routes(rt)
    if not managed.bases:
        return None
    first = matchers(found[managed.bases[0]])
    return str(first[0].get("prefix")) if first and isinstance(first[0].get("prefix"), str) else None
