"""The status of a managed service, as `status` shows it: a pure model and its renderings.

Weights and roles come from the routes (the truth); the RouteTable's annotations and the Deployments'
role annotations record intent, and every difference between intent and routes is one drift line
(`core.drift`). The line `list` shows for a service is `core.summary`.
A RouteTable edited into a shape the plugin does not manage still gets a status (phase `unmanaged`,
with what was found), since `status` is where a user looks when something is wrong. The CanaryPolicies
that govern the service's namespace are shown with the rules each imposes (`unknown` when they could
not be read, e.g. for a user who may not list them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.datapath import DataPath, Observed, data_path_of
from kubectl_canary.core.drift import annotation_drift, deployment_drift, next_steps
from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.kinds import Obj, annotations_of, labels_of
from kubectl_canary.core.policy import Policy
from kubectl_canary.core.routes import Headers, Managed, RouteState, first_prefix, recognise
from kubectl_canary.core.routetable import destinations
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.core.tables import columns, dash
from kubectl_canary.core.verdict import recorded_lines

UNMANAGED = "unmanaged"


@dataclass(frozen=True)
class VersionStatus:
    """One version: its role and weight by the routes, and its Deployment's replicas.

    `role` is None for a version the routes do not send traffic to; `weight` is its share (percent) of
    the traffic without the header; `ready` is None when the store keeps no status (a directory).
    """

    version: str
    role: str | None
    weight: int | None
    header: bool
    deployment: str | None
    ready: int | None
    desired: int | None


@dataclass(frozen=True)
class Status:
    """Everything `kubectl canary status` reports about one service."""

    service: str
    namespace: str
    routetable: str
    phase: str
    prefix: str | None
    primary: str | None
    canary: str | None
    weight: int | None
    headers: Headers
    api_group: str | None
    versions: tuple[VersionStatus, ...]
    drift: tuple[str, ...]
    # The CanaryPolicies governing the namespace; None when they are not known.
    policies: tuple[Policy, ...] | None = None
    # What Gloo and the endpoints say; None where the store keeps no status (a directory).
    datapath: DataPath | None = None
    # Steps of the workflow in progress (a canary deployed, not yet routed), with the command that continues.
    steps: tuple[str, ...] = ()
    # The last `shift --step` verdict recorded on the RouteTable (JSON), None without one.
    analysis: str | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        """What keeps requests from landing where the routes say; `status` exits 1 while any exists."""
        return self.datapath.problems if self.datapath else ()

    def to_dict(self) -> dict[str, Any]:
        """The status for `-o json|yaml`, with camelCase keys like the objects it describes."""
        return {
            "service": self.service,
            "namespace": self.namespace,
            "routeTable": self.routetable,
            "phase": self.phase,
            "prefix": self.prefix,
            "primary": self.primary,
            "canary": self.canary,
            "weight": self.weight,
            "headers": dict(self.headers),
            "apiGroup": self.api_group,
            "versions": [
                {
                    "version": v.version,
                    "role": v.role,
                    "weight": v.weight,
                    "header": v.header,
                    "deployment": v.deployment,
                    "readyReplicas": v.ready,
                    "replicas": v.desired,
                    "readyEndpoints": self.datapath.endpoints.get(v.version, 0) if self.datapath else None,
                }
                for v in self.versions
            ],
            "drift": list(self.drift),
            "next": list(self.steps),
            "policies": None if self.policies is None else [p.to_dict(self.namespace) for p in self.policies],
            "gloo": None if self.datapath is None else [
                {"kind": g.kind, "name": g.name, "state": g.state, "reason": g.reason} for g in self.datapath.gloo
            ],
            "problems": list(self.problems),
            "analysis": _analysis_dict(self.analysis),
        }


def _analysis_dict(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text}


def _replicas(deployment: Obj | None) -> tuple[int | None, int | None]:
    if deployment is None:
        return None, None
    desired = (deployment.get("spec") or {}).get("replicas")
    status = deployment.get("status")
    ready = int(status.get("readyReplicas") or 0) if isinstance(status, dict) else None
    return ready, int(desired) if desired is not None else 1


def _version_rows(snap: Snapshot, state: RouteState | None, header_versions: set[str]) -> tuple[VersionStatus, ...]:
    roles = _roles(state)
    weights: dict[str, int] = {}
    if state is not None:
        weights[state.primary] = 100 - state.weight if state.canary else 100
        if state.canary:
            weights[state.canary] = state.weight
    rows = []
    for version in sorted(set(snap.deployments) | set(roles) | header_versions):
        deployment = snap.deployment(version)
        ready, desired = _replicas(deployment)
        rows.append(VersionStatus(
            version=version,
            role=roles.get(version),
            weight=weights.get(version),
            header=version in header_versions,
            deployment=str(deployment["metadata"]["name"]) if deployment else None,
            ready=ready,
            desired=desired,
        ))
    # The primary first, then the canary, then versions without traffic.
    order = {"primary": 0, "canary": 1}
    return tuple(sorted(rows, key=lambda r: (order.get(r.role or "", 2), r.version)))


def _roles(state: RouteState | None) -> dict[str, str]:
    if state is None:
        return {}
    return {state.primary: "primary", **({state.canary: "canary"} if state.canary else {})}


def routed_versions(state: RouteState | None) -> set[str]:
    """The versions the routes send some traffic to (header-matched or a weight above 0)."""
    if state is None:
        return set()
    if state.canary is None:
        return {state.primary}
    return ({state.primary} if state.weight < 100 else set()) | {state.canary}


def status_of(snap: Snapshot, seen: Observed | None = None) -> Status:
    """The status of the service in `snap`, with its data path when `seen` (a cluster's objects) is
    given; NotFound when it has no RouteTable."""
    rt = snap.routetable
    if rt is None:
        raise snap.not_found()
    drift: list[str] = []
    state: RouteState | None
    managed: Managed | None
    try:
        managed = recognise(rt, snap.service, snap.upstream)
    except UnmanagedShape as err:
        managed, drift = None, [str(err)]
    state = managed.state if managed else None
    headers = state.headers if state else ()
    header_versions = {state.canary} if state and state.canary else {
        dict(d.subset).get(names.VERSION_KEY, "") for d in destinations(rt) if d.header_matched
    } - {""}
    if state is not None:
        drift += annotation_drift(rt, snap.service, state)
    drift += deployment_drift(snap, _roles(state))
    return Status(
        service=snap.service,
        namespace=snap.namespace,
        routetable=snap.routetable_ref.name,
        phase=state.phase if state else UNMANAGED,
        prefix=first_prefix(rt, managed) if managed else None,
        primary=state.primary if state else None,
        canary=state.canary if state else None,
        weight=state.weight if state and state.canary else None,
        headers=headers,
        api_group=labels_of(rt).get(names.API_GROUP),
        versions=_version_rows(snap, state, header_versions),
        drift=tuple(drift),
        steps=tuple(next_steps(snap, _roles(state))),
        datapath=None if seen is None else data_path_of(seen, snap.service, routed_versions(state)),
        analysis=annotations_of(rt).get(names.ANALYSIS),
    )


def _policy_lines(status: Status) -> list[str]:
    """`Policy:` and one line per governing policy with its enforcement and rules (`unknown` for None)."""
    if status.policies is None:
        return ["Policy:      unknown"]
    if not status.policies:
        return ["Policy:      none"]
    return [
        ("Policy:" if i == 0 else "").ljust(13) + f"{p.name} ({p.enforcement}): {', '.join(p.rules(status.namespace))}"
        for i, p in enumerate(status.policies)
    ]


def render_table(status: Status) -> str:
    """The human-readable status: a header block, a table of versions, and the drift lines."""
    header = ", ".join(f"{n}={v}" for n, v in status.headers)
    lines = [
        f"Service:     {status.namespace}/{status.service}",
        f"RouteTable:  {status.namespace}/{status.routetable}"
        + (f" (apiGroup {status.api_group})" if status.api_group else " (no apiGroup label)"),
        f"Phase:       {status.phase}",
        f"Prefix:      {dash(status.prefix)}",
        f"Header:      {header} -> {status.canary}" if header else "Header:      -",
    ]
    lines += _policy_lines(status)
    path = status.datapath
    if path is not None:
        lines += [("Gloo:" if i == 0 else "").ljust(13) + g.describe() for i, g in enumerate(path.gloo)]
    rows = [["VERSION", "ROLE", "WEIGHT", "HEADER", "DEPLOYMENT", "READY"] + (["ENDPOINTS"] if path else [])]
    for v in status.versions:
        weight = f"{v.weight}%" if v.weight is not None else "-"
        ready = f"{dash(v.ready)}/{dash(v.desired)}" if v.deployment else "missing"
        endpoints = [str(path.endpoints.get(v.version, 0))] if path else []
        rows.append([v.version, dash(v.role), weight, "yes" if v.header else "-", dash(v.deployment), ready,
                     *endpoints])
    lines += recorded_lines(status.analysis)
    lines += ["", columns(rows), ""]
    lines += ["Drift:       none"] if not status.drift else ["Drift:"] + [f"  - {d}" for d in status.drift]
    lines += [("Next:" if i == 0 else "").ljust(13) + step for i, step in enumerate(status.steps)]
    if path is not None:
        lines += ["Problems:    none"] if not path.problems else ["Problems:"] + [f"  - {p}" for p in path.problems]
    return "\n".join(lines)
