"""The plan of each command on a values file of charts/gloo-app: the `Edit`s that take the seed's
values from one step of its workflow (values-1 ... values-6) to the next.

Each `values_*` function validates the request against the `ValuesState` the values express (raising
the domain errors with one line naming the file and what to do) and returns a `ValuesPlan`. A values
file is applied later, by someone else, so `finish` and `abort --delete-canary` that would remove a
version still taking traffic move the traffic only, and say to run the command again once applied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.errors import StateConflict, UsageError
from kubectl_canary.core.routes import Headers, RouteState
from kubectl_canary.core.values import Edit, ValuesPlan, ValuesState, map_at, read_state


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
    deployment = map_at(values, ("deployment",), where)
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
