"""`adopt`: bring a service that already runs under the plugin, with nothing deleted or recreated.

A service deployed the ordinary way has a Deployment (any name) whose pods carry no `version` label, a
Service, an Upstream without a `version` subset, and routes that send to the whole Upstream. Adoption
is two steps, because routes to the `version: V` subset may only go out once every ready pod carries
the label (else Gloo's subset fallback spreads them, or with NO_FALLBACK fails them):

1. the Deployment gets `version: V` on its pod template (a rolling update; its immutable selector stays
   as it is) and the primary role; the Upstream gets the `version` subset key;
2. once that rollout is done, the routes to the Upstream move to the `V` subset, and the RouteTable gets
   the state annotations.

`plan_adopt` plans whichever step the objects call for, so running `adopt` again completes a half-done
adoption and is a no-op on an adopted service. Whether the rollout is done is the caller's to observe
(`rollout_pending`, from the Pods); it is pure.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names, objects
from kubectl_canary.core.deployments import PRIMARY_ROLE, reapplied
from kubectl_canary.core.errors import NotFound, StateConflict, UnmanagedShape, UsageError
from kubectl_canary.core.kinds import DEPLOYMENT, ROUTETABLE, Obj, ObjectRef, labels_of
from kubectl_canary.core.plan import Plan
from kubectl_canary.core.routes import RouteState, recognise, sends_to, set_versions
from kubectl_canary.core.routetable import own_namespace
from kubectl_canary.core.snapshot import Snapshot, pod_labels


@dataclass(frozen=True)
class Adoption:
    """An adoption's plan, and the Deployment whose rollout must finish before the next step (None: done)."""

    plan: Plan
    waits_for: ObjectRef | None = None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _deployment(snap: Snapshot, version: str, name: str | None) -> Obj:
    """The Deployment that runs the service: `name`, else the one labelled `version` already, else the only
    one whose pods the Service selects."""
    candidates = [*snap.deployments.values(), *snap.unversioned]
    if name is not None:
        found = [d for d in candidates if _name(d) == name]
        if not found:
            raise NotFound(f"Deployment {snap.namespace}/{name} (--deployment) does not run pods that Service "
                           f"{snap.where} selects ({_selector(snap)})")
        return found[0]
    if snap.deployment(version) is not None:
        return snap.deployments[version]
    if len(snap.unversioned) == 1:
        return snap.unversioned[0]
    if not snap.unversioned:
        raise NotFound(f"no Deployment in namespace {snap.namespace} runs pods that Service {snap.where} selects "
                       f"({_selector(snap)}); name it with --deployment NAME")
    listed = ", ".join(sorted(_name(d) for d in snap.unversioned))
    raise UsageError(f"several Deployments run pods that Service {snap.where} selects ({listed}); name the one "
                     "that runs the current version with --deployment NAME")


def _selector(snap: Snapshot) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(snap.selector.items()))


def _labelled(deployment: Obj, version: str) -> Obj:
    """The Deployment with `version: V` on its pod template and the primary role (a rolling update)."""
    out = reapplied(deployment, {names.ROLE: PRIMARY_ROLE})
    template = out.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    template["labels"] = {**(template.get("labels") or {}), names.VERSION_KEY: version}
    return out


def _subset_keys(upstream: Obj) -> list[list[str]]:
    spec = ((upstream.get("spec") or {}).get("kube") or {}).get("subsetSpec") or {}
    return [list(s.get("keys") or []) for s in spec.get("selectors") or [] if isinstance(s, dict)]


def _with_subset(upstream: Obj) -> Obj:
    """The Upstream with a `version` subset selector added (Gloo's discovery keeps a user-set subsetSpec)."""
    out = reapplied(upstream, {})
    kube = out.setdefault("spec", {}).setdefault("kube", {})
    subset = kube.setdefault("subsetSpec", {})
    subset["selectors"] = [*copy.deepcopy(subset.get("selectors") or []), {"keys": [names.VERSION_KEY]}]
    return out


def _missing_routetable(snap: Snapshot, virtualservices: Iterable[Obj]) -> NotFound:
    direct = [vs for vs in virtualservices if any(
        sends_to(r, snap.upstream, own_namespace(vs)) for r in ((vs.get("spec") or {}).get("virtualHost") or {})
        .get("routes") or [] if isinstance(r, dict))]
    if direct:
        vs = direct[0]
        where = f"{own_namespace(vs)}/{_name(vs)}"
        return NotFound(
            f"VirtualService {where} routes to Upstream {snap.upstream} itself, and kubectl-canary manages routes "
            f"in RouteTables: move those routes into a RouteTable in namespace {snap.namespace} and replace them "
            f"with a route that delegates to it (`delegateAction: {{ref: {{name: NAME, namespace: "
            f"{snap.namespace}}}}}`), then run adopt again"
        )
    return NotFound(f"no RouteTable in namespace {snap.namespace} routes to Upstream {snap.upstream}; write one "
                    f"that does (and a VirtualService that delegates to it), or create the service with "
                    f"`kubectl canary init {snap.service} --version V`")


def _overlap_note(snap: Snapshot, deployment: Obj) -> tuple[str, ...]:
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if names.VERSION_KEY in selector:
        return ()
    shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return (f"Deployment {snap.namespace}/{_name(deployment)} selects its pods by {shown} (a selector cannot "
            "change), which a canary's pods carry too: each canary selects its own by version as well, and "
            "ReplicaSets own their pods by pod-template-hash, so neither Deployment takes the other's pods; an "
            f"autoscaler of {_name(deployment)} counts the canary's pods in its metrics",)


def _routetable(snap: Snapshot, version: str) -> tuple[Obj, list[str]]:
    rt = snap.routetable
    assert rt is not None
    new_routes, changed = set_versions(rt, snap.upstream, version)
    candidate = {**rt, "spec": {**(rt.get("spec") or {}), "routes": new_routes}}
    state = recognise(candidate, snap.service, snap.upstream).state  # never write what the plugin cannot read
    if state != RouteState(version):
        raise StateConflict(f"{snap.routetable_ref} routes to {', '.join(state.versions())} of Upstream "
                            f"{snap.upstream}, not to {version} alone; adopt the service at the version it runs")
    meta = rt.get("metadata") or {}
    new_meta: Obj = {"name": meta.get("name"), "namespace": snap.namespace,
                     "annotations": objects.state_annotations(snap.service, state)}
    if labels_of(rt).get(names.API_GROUP):
        new_meta["labels"] = {names.API_GROUP: labels_of(rt)[names.API_GROUP]}
    if meta.get("resourceVersion"):
        new_meta["resourceVersion"] = meta["resourceVersion"]
    return {"apiVersion": ROUTETABLE.api_version, "kind": ROUTETABLE.kind, "metadata": new_meta,
            "spec": {"routes": new_routes}}, changed


def plan_adopt(
    snap: Snapshot, version: str, deployment: str | None = None, rollout: str | None = None,
    virtualservices: Iterable[Obj] = (),
) -> Adoption:
    """The next step of adopting `snap`'s service at `version` (see the module docstring).

    `rollout` is what is still pending in the rollout of the Deployment's labelled pods (None: done, or
    cannot be observed, as in a directory of manifests).
    """
    names.check_version(snap.service, version)
    if snap.service_obj is None:
        raise NotFound(f"Service {snap.where} not found: adopt brings a service that runs already under "
                       "kubectl-canary; create a new one with "
                       f"`kubectl canary init {snap.service} --version {version}`")
    if snap.upstream_obj is None:
        raise NotFound(f"no Gloo Upstream sends to Service {snap.where}: write one (kube: serviceName "
                       f"{snap.service}, serviceNamespace {snap.namespace}, servicePort: a port of the Service), or "
                       "let Gloo's discovery write it, then run adopt again")
    if snap.routetable is None:
        raise _missing_routetable(snap, virtualservices)
    target = _deployment(snap, version, deployment)
    have = pod_labels(target).get(names.VERSION_KEY)
    if have is not None and have != version:
        raise StateConflict(f"Deployment {snap.namespace}/{_name(target)} runs version {have}, not {version}; "
                            f"adopt it with --version {have}")
    try:
        state = recognise(snap.routetable, snap.service, snap.upstream).state
    except UnmanagedShape:
        state = None  # not adopted yet (routes without a subset), or half way
    if state is not None and state != RouteState(version):
        raise StateConflict(f"service {snap.service} in namespace {snap.namespace} is managed already "
                            f"(primary {state.primary}{', canary ' + state.canary if state.canary else ''}); "
                            "nothing to adopt")
    notes = _overlap_note(snap, target)
    first: list[Obj] = []
    if have is None or (snap.role(version) != PRIMARY_ROLE):
        first.append(_labelled(target, version))
    if [names.VERSION_KEY] not in _subset_keys(snap.upstream_obj):
        first.append(_with_subset(snap.upstream_obj))
    ref = ObjectRef(DEPLOYMENT.kind, snap.namespace, _name(target))
    if have is None:
        later = (f"the routes move to version {version} once every ready pod of Deployment "
                 f"{ref.namespace}/{ref.name} carries the label")
        return Adoption(Plan(tuple(first), messages=(*notes, later)), ref)
    if rollout is not None:
        return Adoption(Plan(tuple(first), messages=(f"waiting for Deployment {ref.namespace}/{ref.name}: "
                                                     f"{rollout}",)), ref)
    rt, changed = _routetable(snap, version)
    moved = [f"route(s) {', '.join(changed)} of {snap.routetable_ref} now send to version {version}"] if changed else []
    return Adoption(Plan((*first, rt), messages=(*notes, *moved)))


def rollout_pending(deployment: Obj, pods: Iterable[Obj], selector: Mapping[str, str], version: str) -> str | None:
    """What keeps the Deployment's relabelled rollout from being done (None: every ready pod the Service
    selects carries `version: V`, and the Deployment reports all its replicas updated and ready)."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if int(status.get("observedGeneration") or 0) < int((deployment.get("metadata") or {}).get("generation") or 0):
        return "the Deployment controller has not seen the change yet"
    updated, ready = int(status.get("updatedReplicas") or 0), int(status.get("readyReplicas") or 0)
    if updated < want or ready < want or int(status.get("replicas") or 0) > want:
        return f"{updated} of {want} pods updated, {ready} ready, {status.get('replicas') or 0} in all"
    serving = [p for p in pods if _ready(p) and all(labels_of(p).get(k) == v for k, v in selector.items())]
    unlabelled = [p for p in serving if labels_of(p).get(names.VERSION_KEY) != version]
    if not serving or unlabelled:
        return f"{len(unlabelled)} of {len(serving)} ready pods lack version={version}"
    return None


def _ready(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions if isinstance(c, dict))


