"""Whether Envoy has a step's routes: the canary's share in a gateway-proxy's `/config_dump`.

A window may only count traffic routed by the step's routes. Gloo reports no generation for a
RouteTable, so the only proof that a proxy routes by the new weights is the proxy's own route
configuration: Gloo turns the routes to a Gloo Upstream into Envoy routes to its cluster
(`NAME_NAMESPACE`), a subset into `metadata_match.filter_metadata["envoy.lb"]`, and weighted
destinations into `weighted_clusters` (a weight-0 destination stays listed). The canary's share of a
route is its weight over the route's total; header-matched routes are not the weighted traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kubectl_canary.core.errors import InvalidObject


def _routes(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every Envoy route (an object with `match` and `route`) anywhere in a config dump."""
    if isinstance(node, dict):
        if "match" in node and isinstance(node.get("route"), dict):
            yield node
        for value in node.values():
            yield from _routes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _routes(value)


def _subset_version(entry: Mapping[str, Any], version_key: str) -> str | None:
    lb = ((entry.get("metadata_match") or {}).get("filter_metadata") or {}).get("envoy.lb") or {}
    value = lb.get(version_key)
    return str(value) if value is not None else None


def _weights(action: Mapping[str, Any], cluster: str, version_key: str) -> dict[str | None, int] | None:
    """version -> weight of one route action on `cluster` (None: the action is not on that cluster)."""
    weighted = action.get("weighted_clusters")
    if isinstance(weighted, dict):
        found: dict[str | None, int] = {}
        for entry in weighted.get("clusters") or []:
            if isinstance(entry, dict) and entry.get("name") == cluster:
                version = _subset_version(entry, version_key)
                found[version] = found.get(version, 0) + int(entry.get("weight") or 0)
        return found or None
    if action.get("cluster") == cluster:
        return {_subset_version(action, version_key): 1}
    return None


def canary_shares(config_dump: str, cluster: str, canary: str, version_key: str = "version") -> list[float]:
    """The canary's share (percent) of each route on `cluster` that matches no header; InvalidObject for
    text that is not a config dump."""
    try:
        doc = json.loads(config_dump)
    except ValueError as err:
        raise InvalidObject(f"Envoy's /config_dump answer is not JSON ({err}): {config_dump[:80]!r}") from err
    shares = []
    for route in _routes(doc):
        if (route.get("match") or {}).get("headers"):
            continue
        weights = _weights(route["route"], cluster, version_key)
        total = sum(weights.values()) if weights else 0
        if weights and total > 0:
            shares.append(100.0 * weights.get(canary, 0) / total)
    return shares


def in_force(config_dump: str, cluster: str, canary: str, weight: int, version_key: str = "version") -> bool:
    """Whether every non-header route of the proxy on `cluster` gives the canary `weight` percent (there is
    at least one such route)."""
    shares = canary_shares(config_dump, cluster, canary, version_key)
    return bool(shares) and all(abs(s - weight) < 0.5 for s in shares)
