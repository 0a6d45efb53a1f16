"""The plan of each command: from a `Snapshot` of a service to the objects to write and delete.

Plans are pure. Each `plan_*` function validates the request against the current objects (raising
the domain errors with one line naming the object and what to do) and returns a `Plan` whose writes
and deletes are in a safe order: `start` writes the Deployment before the RouteTable routes to it;
`finish` and `abort` move traffic (the RouteTable) before any Deployment is deleted. State is read
only from the objects: the routes (the truth), the role annotations of the Deployments, and nothing
else, so `finish` and `abort` recognise a half-done earlier run and complete it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubectl_canary.core import names, objects
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.deployments import (
    CANARY_ROLE,
    NO_CHANGES,
    PRIMARY_ROLE,
    canary_writes,
    deployment_ref,
    name_of,
    readiness,
    rebuilt,
    removed,
)
from kubectl_canary.core.errors import NotFound, StateConflict, UsageError
from kubectl_canary.core.kinds import ROUTETABLE, Obj, ObjectRef, labels_of
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.routes import Headers, Managed, RouteState, recognise, rewrite
from kubectl_canary.core.snapshot import Snapshot


@dataclass(frozen=True)
class Plan:
    """What a command does: objects to apply (in order), then objects to delete, and notes for the user."""

    writes: tuple[Obj, ...] = ()
    deletes: tuple[ObjectRef, ...] = ()
    messages: tuple[str, ...] = ()


def _managed(snap: Snapshot) -> Managed:
    """The service's managed routes; NotFound for an unknown service, UnmanagedShape if hand-edited."""
    if snap.routetable is None:
        raise snap.not_found()
    return recognise(snap.routetable, snap.service, snap.upstream)


def _current(snap: Snapshot) -> RouteState:
    """The state the service's routes express (see `_managed`)."""
    return _managed(snap).state


def _describe(state: RouteState) -> str:
    if state.canary is None:
        return f"phase stable, primary {state.primary}"
    return f"phase {state.phase}, primary {state.primary}, canary {state.canary} at weight {state.weight}"


def _require_deployment(snap: Snapshot, version: str, why: str, advice: str) -> Obj:
    """The Deployment of `version`, which traffic is about to reach: NotFound (saying what to do) without it."""
    found = snap.deployment(version)
    if found is None:
        raise NotFound(
            f"Deployment {snap.namespace}/{names.deployment_name(snap.service, version)} ({why}) not found; {advice}"
        )
    return found


def _redeploy(snap: Snapshot, version: str) -> str:
    return f"deploy it again with `kubectl canary start {snap.service} --version {version} --no-route`"


def _routetable(
    snap: Snapshot, state: RouteState, api_group: str | None = None, prefix: str | None = None
) -> Obj:
    """The service's RouteTable in `state`: a new `S-routes`, or the existing one with its managed routes
    rewritten (every other route as it was), conditional on the resourceVersion it was read at."""
    if snap.routetable is None:
        return objects.routetable(snap.service, snap.namespace, state, api_group or snap.api_group, prefix)
    existing = snap.routetable
    meta = existing.get("metadata") or {}
    labels = {k: v for k, v in labels_of(existing).items() if k in (names.API_GROUP, names.MANAGED_BY)
              and (k != names.MANAGED_BY or v == names.MANAGER)}
    if api_group:
        labels[names.API_GROUP] = api_group
    new_meta: Obj = {"name": meta.get("name"), "namespace": snap.namespace}
    if labels:
        new_meta["labels"] = labels
    new_meta["annotations"] = objects.state_annotations(snap.service, state)
    if meta.get("resourceVersion"):
        new_meta["resourceVersion"] = meta["resourceVersion"]
    return {
        "apiVersion": ROUTETABLE.api_version,
        "kind": ROUTETABLE.kind,
        "metadata": new_meta,
        "spec": {"routes": rewrite(existing, snap.upstream, _managed(snap), state)},
    }


def plan_init(
    snap: Snapshot, version: str, workload: Workload, api_group: str | None = None, prefix: str | None = None
) -> Plan:
    """Create the service at `version`: Service, Deployment (primary), Upstream, RouteTable (stable).

    Re-running it on a service that is stable on the same version writes the same objects again.
    """
    names.check_service(snap.service)
    names.check_version(snap.service, version)
    if api_group:
        names.check_label_value("--api-group", api_group)
    if snap.routetable is not None:
        state = _current(snap)
        if state.canary is not None or state.primary != version:
            raise StateConflict(
                f"service {snap.service} already exists in namespace {snap.namespace} ({_describe(state)}); "
                f"roll out a new version with `kubectl canary start {snap.service} --version {version}`"
            )
    return Plan(
        writes=(
            objects.service(snap.service, snap.namespace, workload.port),
            objects.deployment(snap.service, snap.namespace, version, workload, PRIMARY_ROLE),
            objects.upstream(snap.service, snap.namespace),
            _routetable(snap, RouteState(version), api_group, prefix),
        )
    )


def plan_start(
    snap: Snapshot,
    version: str,
    changes: Changes = NO_CHANGES,
    headers: Headers | None = None,
    no_route: bool = False,
) -> Plan:
    """Deploy `version` as the canary and (unless `no_route`) route header-matched traffic to it.

    Running it again on the canary already deployed adds the route, or changes the header rule when
    `headers` are given; the canary's weight is kept.
    """
    names.check_version(snap.service, version)
    state = _current(snap)
    if version == state.primary:
        raise StateConflict(
            f"version {version} is already the primary of service {snap.service} in namespace {snap.namespace}; "
            "start a canary with a different --version"
        )
    if state.canary is not None and state.canary != version:
        raise StateConflict(
            f"a canary is already in progress for service {snap.service} in namespace {snap.namespace} "
            f"({_describe(state)}); run `kubectl canary finish {snap.service}` or "
            f"`kubectl canary abort {snap.service}` before starting {version}"
        )
    unrouted = [v for v in _leftover(snap, state.primary, CANARY_ROLE) if v != version]
    if state.canary is None and unrouted:
        raise StateConflict(
            f"a canary is already in progress for service {snap.service} in namespace {snap.namespace} "
            f"(canary {', '.join(unrouted)} deployed without a route); run "
            f"`kubectl canary abort {snap.service} --delete-canary` before starting {version}"
        )
    writes = canary_writes(snap, state.primary, version, changes)
    if no_route:
        note = "" if state.canary == version else (
            f"; route header traffic to it with `kubectl canary start {snap.service} --version {version}`"
        )
        return Plan(tuple(writes), messages=(f"canary {version} of service {snap.service} deployed{note}",))
    if headers is None:
        headers = state.headers if state.canary == version else (names.DEFAULT_HEADER,)
    if len({n for n, _ in headers}) != len(headers):
        raise UsageError(f"--header names a header twice: {', '.join(f'{n}={v}' for n, v in headers)}")
    weight = state.weight if state.canary == version else 0
    new = RouteState(state.primary, version, weight, tuple(sorted(headers)))
    writes.append(_routetable(snap, new))
    return Plan(tuple(writes))


def plan_shift(snap: Snapshot, weight: int, require_ready: bool = False) -> Plan:
    """Give the canary `weight` percent of the traffic without the header (phase weighted, or header at 0).

    With `require_ready` (a cluster, where Deployments report their pods), a canary without a ready pod
    gets no weighted share: Gloo's subset fallback would send that share to the other versions while the
    routes claim otherwise, and the canary's first pod to turn ready would take it at once.
    """
    if not 0 <= weight <= 100:
        raise UsageError(f"invalid --weight {weight}: use 0 to 100")
    state = _current(snap)
    if state.canary is None:
        raise StateConflict(
            f"no canary in progress for service {snap.service} in namespace {snap.namespace} ({_describe(state)}); "
            f"start one with `kubectl canary start {snap.service} --version V`"
        )
    canary = _require_deployment(snap, state.canary, f"canary {state.canary}", _redeploy(snap, state.canary))
    ready, desired = readiness(canary)
    if require_ready and weight > 0 and ready == 0:
        raise StateConflict(
            f"canary {state.canary} of service {snap.service} in namespace {snap.namespace} has 0 of {desired} pods "
            f"ready (Deployment {name_of(canary)}), so it gets no weighted traffic: see why with `kubectl canary "
            f"status {snap.service}` and `kubectl describe pods -n {snap.namespace} -l version={state.canary}`, "
            "or shift anyway with --force"
        )
    return Plan((_routetable(snap, replace(state, weight=weight)),))


def _leftover(snap: Snapshot, primary: str, role: str) -> list[str]:
    """Versions with a Deployment of `role` that receive no traffic (what a half-done command left)."""
    return [v for v in snap.deployments if v != primary and snap.role(v) == role]


def plan_finish(snap: Snapshot, keep_old: bool = False) -> Plan:
    """Make the canary the primary (all traffic), then delete the old primary's Deployment unless `keep_old`.

    A stable service whose unrouted Deployments still carry the primary role is a finish that stopped
    half way: it is completed. A stable service without them has nothing to finish.
    """
    state = _current(snap)
    messages: list[str] = []
    if state.canary is not None:
        new_primary, old = state.canary, [state.primary]
        _require_deployment(snap, new_primary, f"canary {new_primary}", _redeploy(snap, new_primary))
        if state.weight < 100:
            messages.append(f"canary {new_primary} had weight {state.weight}; finish sends it all traffic now")
    else:
        new_primary, old = state.primary, _leftover(snap, state.primary, PRIMARY_ROLE)
        if not old:
            raise StateConflict(
                f"no canary in progress for service {snap.service} in namespace {snap.namespace} "
                f"({_describe(state)}): nothing to finish"
            )
        messages.append(f"completing an earlier finish: {new_primary} is already the primary of {snap.service}")
    writes: list[Obj] = [_routetable(snap, RouteState(new_primary))]
    if snap.deployment(new_primary) is not None:
        writes.append(rebuilt(snap, new_primary, PRIMARY_ROLE))
    deletes: list[ObjectRef] = []
    for version in old:
        if snap.deployment(version) is None:
            continue
        ref = deployment_ref(snap, version)
        if keep_old:
            writes.append(rebuilt(snap, version, None))
            messages.append(f"Deployment {ref.namespace}/{ref.name} kept (--keep-old); it receives no traffic")
        else:
            deletes += removed(snap, version)
    return Plan(tuple(writes), tuple(deletes), tuple(messages))


def plan_abort(snap: Snapshot, delete_canary: bool = False) -> Plan:
    """Send all traffic back to the primary; delete the canary's Deployment only with `delete_canary`.

    On a stable service it rewrites the same RouteTable (and, with `delete_canary`, removes unrouted
    canary Deployments, such as one left by an abort that stopped half way).
    """
    state = _current(snap)
    _require_deployment(
        snap, state.primary, f"primary {state.primary}", "recreate it before sending all traffic back to it"
    )
    messages: list[str] = []
    if state.canary is not None:
        canaries = [state.canary] if snap.deployment(state.canary) is not None else []
    else:
        canaries = _leftover(snap, state.primary, CANARY_ROLE)
        if not (delete_canary and canaries):
            messages.append(f"service {snap.service} is already stable on {state.primary}: nothing to abort")
    deletes: tuple[ObjectRef, ...] = ()
    if delete_canary:
        deletes = tuple(ref for v in canaries for ref in removed(snap, v))
    elif state.canary is not None and canaries:
        messages.append(
            f"Deployment {snap.namespace}/{names.deployment_name(snap.service, state.canary)} kept without "
            f"traffic; remove it with `kubectl canary abort {snap.service} --delete-canary`"
        )
    return Plan((_routetable(snap, RouteState(state.primary)),), deletes, tuple(messages))

