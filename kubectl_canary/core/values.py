"""The values of charts/gloo-app (the seed's chart) as a canary state, and the edits commands make to them.

The seed runs its workflow by editing one values file (values-1 ... values-6) and applying it with
`helm upgrade`. These pure functions read such values into a `ValuesState`; each command says which
keys to set or delete (`Edit`s, planned by `core.values_plan`), so that the values' own text (comments,
key order, keys the plugin does not know) survives: the edits are applied to a round-trip YAML document
at the edge (`store.values`, `store.helm`), or to a plain dict in tests.

A values file is applied later, by someone else (a pipeline, Flux, Argo CD), so the plugin cannot wait
between two applies: when `finish` or `abort --delete-canary` would remove a version that still takes
traffic, the plan moves the traffic only and says to run the command again once that is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.routes import RouteState

Path = tuple[str, ...]


@dataclass(frozen=True)
class Edit:
    """Set `path` to `value` (a new key goes right after the key `after`, if that exists), or delete it."""

    path: Path
    value: Any = None
    delete: bool = False
    after: str | None = None


@dataclass(frozen=True)
class ValuesPlan:
    """The edits a command makes to the values, what it tells the user, and whether it has more to do
    once the edited values are applied (then it is to be run again)."""

    edits: tuple[Edit, ...] = ()
    messages: tuple[str, ...] = ()
    again: bool = False


@dataclass(frozen=True)
class ValuesState:
    """What the values say: the versions deployed (in order) and the routes (None: no primary yet)."""

    versions: tuple[str, ...]
    routes: RouteState | None
    api_group: str | None = None

    def unrouted(self) -> tuple[str, ...]:
        """Versions deployed without traffic (the seed's values-2: a canary deployed, not yet routed)."""
        routed = self.routes.versions() if self.routes else ()
        return tuple(v for v in self.versions if v not in routed)


def map_at(values: Mapping[str, Any], path: Path, where: str) -> Mapping[str, Any]:
    """The map at `path` in `values` ({} where a key is missing); InvalidObject where it is not a map."""
    found: Any = values
    for key in path:
        found = found.get(key) if isinstance(found, Mapping) else None
        if found is None:
            return {}
    if not isinstance(found, Mapping):
        raise InvalidObject(f"{where}: {'.'.join(path)} is {type(found).__name__}, expected a map")
    return found


def _version(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidObject(f"{where}: {key} is {value!r}, expected a version such as v2")
    return value


def read_state(values: Mapping[str, Any], where: str = "values") -> ValuesState:
    """The state `values` express; InvalidObject naming the key for values the chart would not take."""
    deployment = map_at(values, ("deployment",), where)
    routes = map_at(values, ("routes",), where)
    primary = map_at(values, ("routes", "primary"), where).get("version")
    canary_values = routes.get("canary")
    api_group = routes.get("apiGroup")
    if primary is None:
        if canary_values:
            raise InvalidObject(f"{where}: routes.canary is set without routes.primary.version")
        return ValuesState(tuple(str(k) for k in deployment), None, api_group if isinstance(api_group, str) else None)
    primary = _version(primary, "routes.primary.version", where)
    state = RouteState(primary)
    if canary_values:
        canary = map_at(values, ("routes", "canary"), where)
        weight = canary.get("weight") or 0
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise InvalidObject(f"{where}: routes.canary.weight is {weight!r}, expected 0 to 100")
        headers = map_at(values, ("routes", "canary", "headers"), where)
        state = RouteState(primary, _version(canary.get("version"), "routes.canary.version", where), weight,
                           tuple(sorted((str(k), str(v)) for k, v in headers.items())))
    return ValuesState(tuple(str(k) for k in deployment), state, api_group if isinstance(api_group, str) else None)


def apply_edits(values: MutableMapping[str, Any], edits: tuple[Edit, ...]) -> None:
    """Apply `edits` in place. A map that supports `insert(position, key, value)` (ruamel's CommentedMap)
    gets a new key after `Edit.after`, so the values read as a person would have written them."""
    for edit in edits:
        parent: MutableMapping[str, Any] = values
        for key in edit.path[:-1]:
            child = parent.get(key)
            if not isinstance(child, MutableMapping):
                parent[key] = {}
                child = parent[key]
            parent = child
        key = edit.path[-1]
        if edit.delete:
            parent.pop(key, None)
        elif key in parent or edit.after is None or edit.after not in parent or not hasattr(parent, "insert"):
            parent[key] = edit.value
        else:
            parent.insert(list(parent).index(edit.after) + 1, key, edit.value)
