"""Drift: where the recorded intent (the RouteTable's annotations, the Deployments' role annotations)
and the routes (the truth) disagree, one line each; and the next steps of a workflow in progress (a
canary deployed, not yet routed), which are not drift. Both are lines of `status`.
"""

from __future__ import annotations

from kubectl_canary.core import names
from kubectl_canary.core.kinds import Obj, annotations_of
from kubectl_canary.core.objects import state_annotations
from kubectl_canary.core.routes import RouteState
from kubectl_canary.core.snapshot import Snapshot


def annotation_drift(rt: Obj, service: str, state: RouteState) -> list[str]:
    """The RouteTable's state annotations that differ from what its routes say."""
    have, want = annotations_of(rt), state_annotations(service, state)
    found: list[str] = []
    for key in (names.PHASE, names.PRIMARY, names.CANARY, names.WEIGHT):
        if have.get(key) == want.get(key):
            continue
        if key not in have:
            found.append(f"annotation {key} is missing; the routes say {want[key]!r}")
        elif key not in want:
            found.append(f"annotation {key} is {have[key]!r} but the routes have no canary")
        else:
            found.append(f"annotation {key} is {have[key]!r} but the routes say {want[key]!r}")
    return found


def deployment_drift(snap: Snapshot, roles: dict[str, str]) -> list[str]:
    """Deployments missing, or whose role annotation differs from the role the routes give their version."""
    found: list[str] = []

    def named(version: str) -> str:
        existing = snap.deployment(version)
        name = (existing or {}).get("metadata", {}).get("name") or names.deployment_name(snap.service, version)
        return f"Deployment {snap.namespace}/{name}"

    for version, role in roles.items():
        if snap.deployment(version) is None:
            found.append(f"{named(version)} does not exist, but the routes send traffic to {role} {version}")
        elif snap.role(version) != role:
            found.append(f"{named(version)} has role {snap.role(version) or 'none'} but the routes make {version} "
                         f"the {role}")
    for version in snap.deployments:
        if version not in roles and snap.role(version) == "primary":
            found.append(f"{named(version)} has role primary but receives no traffic; "
                         f"`kubectl canary finish {snap.service}` completes the earlier finish")
        elif version not in roles and snap.role(version) == "canary" and "canary" in roles.values():
            found.append(f"{named(version)} has role canary but receives no traffic while canary "
                         f"{next(v for v, r in roles.items() if r == 'canary')} is routed; remove it with "
                         f"`kubectl -n {snap.namespace} delete deployment {named(version).rsplit('/', 1)[1]}`")
    return found


def next_steps(snap: Snapshot, roles: dict[str, str]) -> list[str]:
    """A canary deployed before any route goes to it (`start --no-route`, the seed's values-2): a step of
    the workflow, not drift."""
    if "canary" in roles.values():
        return []
    return [f"canary {version} is deployed without traffic (start --no-route); route header traffic to it with "
            f"`kubectl canary start {snap.service} --version {version}`, or remove it with `kubectl canary abort "
            f"{snap.service} --delete-canary`"
            for version in snap.deployments if version not in roles and snap.role(version) == "canary"]
