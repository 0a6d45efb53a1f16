"""The routes the plugin manages for one service: render them from a state, and recognise them back.

A managed RouteTable has the seed chart's shape: either one route (`prefix`, `single` to the primary
subset: phase `stable`), or a header-matched route to the canary followed by the prefix route split
`multi` between primary (`100-N`) and canary (`N`) (phases `header` and `weighted`). `recognise`
reads any RouteTable back into a `RouteState`, and names what it found when the shape is not one of
these, so the plugin never overwrites routes it does not understand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.routetable import headers_of, multi_destinations, route_action, routes

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RouteState:
    """Where a service's traffic goes: the primary, and the canary with its weight and header rule.

    `canary` is None in phase `stable`. `weight` is the canary's share (0..100) of the traffic that
    does not carry the header; with a canary and weight 0 the phase is `header`.
    """

    prefix: str
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


def _destination(service: str, namespace: str, version: str) -> Obj:
    return {
        "upstream": {"name": service, "namespace": namespace},
        "subset": {"values": {names.VERSION_KEY: version}},
    }


def render(service: str, namespace: str, state: RouteState) -> list[Obj]:
    """The routes of `state`, field for field as the seed's route table template renders them."""
    if state.canary is None:
        return [
            {
                "matchers": [{"prefix": state.prefix}],
                "routeAction": {"single": _destination(service, namespace, state.primary)},
            }
        ]
    # Helm ranges over a map in key order, so the seed's chart renders headers sorted by name.
    headers = [{"name": n, "value": v} for n, v in sorted(state.headers)]
    return [
        {
            "matchers": [{"headers": headers, "prefix": state.prefix}],
            "routeAction": {"single": _destination(service, namespace, state.canary)},
        },
        {
            "matchers": [{"prefix": state.prefix}],
            "routeAction": {
                "multi": {
                    "destinations": [
                        {"destination": _destination(service, namespace, state.primary),
                         "weight": 100 - state.weight},
                        {"destination": _destination(service, namespace, state.canary),
                         "weight": state.weight},
                    ]
                }
            },
        },
    ]


_ROUTE_KEYS = {"matchers", "routeAction"}
_MATCHER_KEYS = {"prefix", "headers"}
_DEST_KEYS = {"upstream", "subset"}
# Header matchers and weighted entries as the plugin writes them: anything else (invertMatch, regex,
# per-destination options) would be dropped by a rewrite, so such routes are not the plugin's.
_HEADER_KEYS = {"name", "value"}
_ENTRY_KEYS = {"destination", "weight"}


class _Reader:
    """Reads one RouteTable's routes, raising `UnmanagedShape` with what was found where it differs."""

    def __init__(self, rt: Mapping[str, Any], service: str) -> None:
        meta = rt.get("metadata") or {}
        self.where = f"RouteTable {meta.get('namespace', '')}/{meta.get('name', '')}"
        self.namespace = str(meta.get("namespace") or "")
        self.service = service

    def fail(self, found: str) -> UnmanagedShape:
        return UnmanagedShape(
            f"{self.where} is not in a shape kubectl-canary manages: {found}; "
            "restore the routes it wrote (see `kubectl canary status`), or manage this service by hand"
        )

    def prefix(self, route: Mapping[str, Any], number: int, header: bool) -> str:
        extra = set(route) - _ROUTE_KEYS
        if extra:
            raise self.fail(f"route {number} has fields {sorted(extra)} the plugin does not write")
        matchers = route.get("matchers") or []
        if len(matchers) != 1 or not isinstance(matchers[0], dict):
            raise self.fail(f"route {number} has {len(matchers)} matchers, expected 1")
        matcher = matchers[0]
        if set(matcher) - _MATCHER_KEYS or not isinstance(matcher.get("prefix"), str):
            raise self.fail(f"route {number} matches {sorted(matcher)}, expected a prefix")
        if bool(matcher.get("headers")) != header:
            raise self.fail(f"route {number} {'lacks' if header else 'has'} a header matcher")
        return str(matcher["prefix"])

    def version(self, dest: Mapping[str, Any], number: int) -> str:
        upstream = dest.get("upstream") or {}
        values = (dest.get("subset") or {}).get("values") or {}
        if set(dest) - _DEST_KEYS or upstream.get("name") != self.service:
            raise self.fail(f"route {number} sends traffic to {dict(dest)}, not to Upstream {self.service}")
        if str(upstream.get("namespace") or self.namespace) != self.namespace:
            raise self.fail(f"route {number} names Upstream {upstream.get('namespace')}/{self.service}")
        if set(values) != {names.VERSION_KEY}:
            raise self.fail(f"route {number} selects subset {dict(values)}, expected only 'version'")
        return str(values[names.VERSION_KEY])

    def headers(self, route: Mapping[str, Any], number: int) -> Headers:
        for header in ((route.get("matchers") or [{}])[0] or {}).get("headers") or []:
            if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
                found = sorted(header) if isinstance(header, dict) else repr(header)
                raise self.fail(f"route {number} has a header matcher with fields {found}, expected name and value")
        return tuple(headers_of(route))

    def entries(self, entries: list[Obj], number: int) -> None:
        for entry in entries:
            extra = set(entry) - _ENTRY_KEYS
            if extra:
                raise self.fail(f"route {number} has a weighted destination with fields {sorted(extra)} "
                                "the plugin does not write")

    def single(self, route: Mapping[str, Any], number: int) -> str:
        action = route_action(route)
        if set(action) != {"single"}:
            raise self.fail(f"route {number} uses {sorted(action) or 'no action'}, expected single")
        return self.version(action["single"], number)


def recognise(rt: Mapping[str, Any], service: str) -> RouteState:
    """Read a managed RouteTable back into its `RouteState`, or raise `UnmanagedShape`."""
    reader = _Reader(rt, service)
    found = routes(rt)
    if len(found) == 1:
        return RouteState(reader.prefix(found[0], 1, header=False), reader.single(found[0], 1))
    if len(found) != 2:
        raise reader.fail(f"{len(found)} routes, expected 1 or 2")
    header_route, main = found
    prefix = reader.prefix(header_route, 1, header=True)
    canary = reader.single(header_route, 1)
    if reader.prefix(main, 2, header=False) != prefix:
        raise reader.fail("the header route and the main route have different prefixes")
    entries = multi_destinations(main)
    if entries is None or set(route_action(main)) != {"multi"} or len(entries) != 2:
        raise reader.fail("route 2 is not a multi route with two destinations (primary, canary)")
    reader.entries(entries, 2)
    primary = reader.version(entries[0].get("destination") or {}, 2)
    if reader.version(entries[1].get("destination") or {}, 2) != canary:
        raise reader.fail("the header route and the weighted canary destination name different versions")
    return RouteState(prefix, primary, canary, _canary_share(entries, reader), reader.headers(header_route, 1))


def _canary_share(entries: list[Obj], reader: _Reader) -> int:
    # Weights are relative in Gloo; the webhook normalises them to 100, but read any positive total.
    weights = [e.get("weight") or 0 for e in entries]
    if not all(isinstance(w, int) and w >= 0 for w in weights) or sum(weights) < 1:
        raise reader.fail(f"route 2 has weights {weights}, which send no traffic")
    return round(100 * weights[1] / sum(weights))
