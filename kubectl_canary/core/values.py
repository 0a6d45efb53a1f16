"""The values of charts/gloo-app (the seed's chart) as a canary state, and each command as edits of them.

The seed runs its workflow by editing one values file (values-1 ... values-6) and applying it with
`helm upgrade`. These pure functions read such values into a `ValuesState` and say, per command, which
keys to set or delete (`Edit`s), so that the values' own text (comments, key order, keys the plugin
does not know) survives: the edits are applied to a round-trip YAML document at the edge
(`store.values`, `store.helm`), or to a plain dict in tests.

A values file is applied later, by someone else (a pipeline, Flux, Argo CD), so the plugin cannot wait
between two applies: when `finish` or `abort --delete-canary` would remove a version that still takes
traffic, the plan moves the traffic only and says to run the command again once that is applied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.errors import InvalidObject, StateConflict, UsageError
from kubectl_canary.core.routes import Headers, RouteState

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


def _map(values: Mapping[str, Any], path: Path, where: str) -> Mapping[str, Any]:
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
    deployment = _map(values, ("deployment",), where)
    routes = _map(values, ("routes",), where)
    primary = _map(values, ("routes", "primary"), where).get("version")
    canary_values = routes.get("canary")
    api_group = routes.get("apiGroup")
    if primary is None:
        if canary_values:
            raise InvalidObject(f"{where}: routes.canary is set without routes.primary.version")
        return ValuesState(tuple(str(k) for k in deployment), None, api_group if isinstance(api_group, str) else None)
    primary = _version(primary, "routes.primary.version", where)
    state = RouteState(primary)
    if canary_values:
        canary = _map(values, ("routes", "canary"), where)
        weight = canary.get("weight") or 0
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise InvalidObject(f"{where}: routes.canary.weight is {weight!r}, expected 0 to 100")
        headers = _map(values, ("routes", "canary", "headers"), where)
        state = RouteState(primary, _version(canary.get("version"), "routes.canary.version", where), weight,
                           tuple(sorted((str(k), str(v)) for k, v in headers.items())))
    return ValuesState(tuple(str(k) for k in deployment), state, api_group if isinstance(api_group, str) else None)


def _describe(state: RouteState) -> str:
    if state.canary is None:
        return f"phase stable, primary {state.primary}"
    return f"phase {state.phase}, primary {state.primary}, canary {state.canary} at weight {state.weight}"


def _routed(state: ValuesState, service: str, where: str) -> RouteState:
    if state.routes is None:
        raise StateConflict(f"{where} routes no version of service {service} (routes.primary.version is not set); "
                            f"create it with `kubectl canary init {service} --version V --values FILE`")
    return state.routes


def _canary_routes(state: RouteState) -> dict[str, Any]:
    out: dict[str, Any] = {"version": state.canary}
    if state.weight:
        out["weight"] = state.weight
    out["headers"] = dict(state.headers)
    return out


def _route_edits(old: RouteState | None, new: RouteState) -> list[Edit]:
    """The smallest edits of `routes` from `old` to `new` (keys kept where they stay)."""
    edits: list[Edit] = []
    if old is None or old.primary != new.primary:
        edits.append(Edit(("routes", "primary", "version"), new.primary))
    if new.canary is None:
        if old is not None and old.canary is not None:
            edits.append(Edit(("routes", "canary"), delete=True))
        return edits
    if old is None or old.canary is None:
        return [*edits, Edit(("routes", "canary"), _canary_routes(new), after="primary")]
    if old.canary != new.canary:
        edits.append(Edit(("routes", "canary", "version"), new.canary))
    if old.weight != new.weight:
        # The seed writes `weight: 0` or leaves it out (values-3); a new weight goes after `version`.
        edits.append(Edit(("routes", "canary", "weight"), new.weight, after="version"))
    if old.headers != new.headers:
        edits.append(Edit(("routes", "canary", "headers"), dict(new.headers)))
    return edits


def _settings(changes: Changes, base: Mapping[str, Any]) -> dict[str, Any]:
    """A version's settings: a copy of `base` (the primary's) with the canary's changes."""
    out = copy.deepcopy(dict(base))
    for container, image in changes.images:
        if container is not None:
            raise UsageError(f"--image {container}={image}: the gloo-app chart runs one container per version; "
                             f"use --image {image}")
        out["image"] = image
    if changes.env:
        env = [dict(e) for e in out.get("env") or []]
        for name, value in changes.env:
            env = [e for e in env if e.get("name") != name] + [{"name": name, "value": value}]
        out["env"] = env
    if changes.replicas is not None:
        out["replicas"] = changes.replicas
    return out


def values_init(values: Mapping[str, Any], service: str, version: str, api_group: str | None = None,
                prefix: str | None = None, image: str | None = None, replicas: int | None = None,
                where: str = "values") -> ValuesPlan:
    """The seed's values-1: `version` deployed and routed (re-running it on the same stable state is a no-op)."""
    names.check_version(service, version)
    state = read_state(values, where)
    if state.routes is not None:
        if state.routes != RouteState(version):
            raise StateConflict(f"service {service} already exists in {where} ({_describe(state.routes)}); "
                                f"roll out a new version with `kubectl canary start {service} --version {version}`")
        return ValuesPlan(messages=(f"service {service} is already stable on {version} in {where}",))
    settings: dict[str, Any] = {}
    if image:
        settings["image"] = image
    if replicas is not None:
        settings["replicas"] = replicas
    edits = [Edit(("deployment", version), settings)]
    if api_group:
        edits.append(Edit(("routes", "apiGroup"), api_group))
    if prefix:
        edits.append(Edit(("routes", "prefix"), prefix))
    edits += _route_edits(None, RouteState(version))
    return ValuesPlan(tuple(edits))


def values_start(values: Mapping[str, Any], service: str, version: str, changes: Changes | None = None,
                 headers: Headers | None = None, no_route: bool = False, where: str = "values") -> ValuesPlan:
    """`start`: deploy `version` (a copy of the primary's settings with `changes`), the seed's values-2; and
    unless `no_route` route header-matched requests to it, values-3."""
    names.check_version(service, version)
    changes = changes or Changes()
    state = read_state(values, where)
    routes = _routed(state, service, where)
    if version == routes.primary:
        raise StateConflict(f"version {version} is already the primary of service {service} in {where}; "
                            "start a canary with a different --version")
    if routes.canary is not None and routes.canary != version:
        raise StateConflict(f"a canary is already in progress for service {service} in {where} "
                            f"({_describe(routes)}); run `kubectl canary finish {service}` or "
                            f"`kubectl canary abort {service}` before starting {version}")
    others = [v for v in state.unrouted() if v != version]
    if others:
        raise StateConflict(f"a canary is already in progress for service {service} in {where} "
                            f"(canary {', '.join(others)} deployed without a route); run "
                            f"`kubectl canary abort {service} --delete-canary` before starting {version}")
    edits: list[Edit] = []
    deployment = _map(values, ("deployment",), where)
    if version not in state.versions:
        primary_settings = deployment.get(routes.primary) or {}
        edits.append(Edit(("deployment", version), _settings(changes, primary_settings), after=routes.primary))
    elif changes != Changes():
        edits.append(Edit(("deployment", version), _settings(changes, deployment.get(version) or {})))
    if no_route:
        note = "" if routes.canary == version else (
            f"; route header traffic to it with `kubectl canary start {service} --version {version}`")
        return ValuesPlan(tuple(edits), (f"canary {version} of service {service} deployed{note}",))
    if headers is None:
        headers = routes.headers if routes.canary == version else (names.DEFAULT_HEADER,)
    if len({n for n, _ in headers}) != len(headers):
        raise UsageError(f"--header names a header twice: {', '.join(f'{n}={v}' for n, v in headers)}")
    weight = routes.weight if routes.canary == version else 0
    edits += _route_edits(routes, RouteState(routes.primary, version, weight, tuple(sorted(headers))))
    return ValuesPlan(tuple(edits))


def values_shift(values: Mapping[str, Any], service: str, weight: int, where: str = "values") -> ValuesPlan:
    """`shift`: the canary's weight (the seed's values-4 at 50, values-5 at 100)."""
    if not 0 <= weight <= 100:
        raise UsageError(f"invalid --weight {weight}: use 0 to 100")
    state = read_state(values, where)
    routes = _routed(state, service, where)
    if routes.canary is None:
        raise StateConflict(f"no canary in progress for service {service} in {where} ({_describe(routes)}); "
                            f"start one with `kubectl canary start {service} --version V`")
    if routes.canary not in state.versions:
        raise StateConflict(f"canary {routes.canary} of service {service} is not under deployment in {where}; "
                            f"deploy it again with `kubectl canary start {service} --version {routes.canary} "
                            "--no-route`")
    new = RouteState(routes.primary, routes.canary, weight, routes.headers)
    return ValuesPlan(tuple(_route_edits(routes, new)))


def _again(command: str, why: str) -> str:
    return (f"{why}; once these values are applied and the gateway has taken them, run "
            f"`kubectl canary {command}` again to remove it")


def values_finish(values: Mapping[str, Any], service: str, keep_old: bool = False,
                  where: str = "values") -> ValuesPlan:
    """`finish`: from weight 100 (values-5), the canary becomes the primary and the old version goes
    (values-6); from a lower weight, first the canary takes all traffic (values-5), and run it again."""
    state = read_state(values, where)
    routes = _routed(state, service, where)
    if routes.canary is None:
        leftover = state.unrouted()
        raise StateConflict(f"no canary in progress for service {service} in {where} ({_describe(routes)}): "
                            "nothing to finish" + (f" (deployed without traffic: {', '.join(leftover)}; remove "
                                                   f"with `kubectl canary abort {service} --delete-canary`)"
                                                   if leftover else ""))
    if routes.canary not in state.versions:
        raise StateConflict(f"canary {routes.canary} of service {service} is not under deployment in {where}; "
                            f"deploy it again with `kubectl canary start {service} --version {routes.canary} "
                            "--no-route`")
    if routes.weight < 100 and not keep_old:
        new = RouteState(routes.primary, routes.canary, 100, routes.headers)
        return ValuesPlan(tuple(_route_edits(routes, new)), (
            _again(f"finish {service}", f"canary {routes.canary} had weight {routes.weight}, so {routes.primary} still "
                   f"takes traffic: these values send all traffic to {routes.canary} first"),), again=True)
    edits = _route_edits(routes, RouteState(routes.canary))
    messages: list[str] = []
    if keep_old:
        messages.append(f"deployment.{routes.primary} kept (--keep-old); it receives no traffic")
    else:
        edits.append(Edit(("deployment", routes.primary), delete=True))
    return ValuesPlan(tuple(edits), tuple(messages))


def values_abort(values: Mapping[str, Any], service: str, delete_canary: bool = False,
                 where: str = "values") -> ValuesPlan:
    """`abort`: all traffic back to the primary (the canary stays deployed, values-2); with `delete_canary`,
    a canary without traffic goes too, while one that still takes traffic loses it first (run it again)."""
    state = read_state(values, where)
    routes = _routed(state, service, where)
    if routes.canary is not None:
        edits = _route_edits(routes, RouteState(routes.primary))
        if delete_canary and routes.canary in state.versions:
            return ValuesPlan(tuple(edits), (_again(f"abort {service} --delete-canary",
                                                    f"canary {routes.canary} still takes traffic: these values "
                                                    f"send all traffic back to {routes.primary} first"),),
                              again=True)
        kept = () if delete_canary else (f"deployment.{routes.canary} kept without traffic; remove it with "
                                         f"`kubectl canary abort {service} --delete-canary`",)
        return ValuesPlan(tuple(edits), kept)
    unrouted = state.unrouted()
    if delete_canary and unrouted:
        return ValuesPlan(tuple(Edit(("deployment", v), delete=True) for v in unrouted))
    return ValuesPlan(messages=(f"service {service} is already stable on {routes.primary}: nothing to abort",))


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
