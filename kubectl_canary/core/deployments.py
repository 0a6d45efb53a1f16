"""The Deployments a plan writes: the canary as its primary's copy, roles, and what removing a version deletes.

An existing object is written back whole (`reapplied`), conditional on the resourceVersion it was read
at; a new canary is `core.clone`'s copy of its primary, with the twin of the primary's autoscaler.
"""

from __future__ import annotations

from kubectl_canary.core import names, objects
from kubectl_canary.core.clone import Changes, canary_deployment, canary_hpa, hpa_targeting
from kubectl_canary.core.errors import NotFound
from kubectl_canary.core.kinds import DEPLOYMENT, Obj, ObjectRef, manifest
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.snapshot import Snapshot

PRIMARY_ROLE = "primary"
CANARY_ROLE = "canary"
# Set by the Deployment controller on every rollout: never copied or re-sent.
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
NO_CHANGES = Changes()


def deployment_ref(snap: Snapshot, version: str) -> ObjectRef:
    found = snap.deployment(version)
    name = (found or {}).get("metadata", {}).get("name") or names.deployment_name(snap.service, version)
    return ObjectRef(DEPLOYMENT.kind, snap.namespace, str(name))


def workload_of(deployment: Obj, service: str, version: str) -> Workload:
    """How an existing Deployment runs (image, args, port, replicas), to rebuild it unchanged."""
    spec = deployment.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    mine = [c for c in containers if c.get("name") == names.deployment_name(service, version)]
    container = (mine or containers)[0]
    ports = container.get("ports") or [{}]
    return Workload(
        image=str(container.get("image") or names.DEFAULT_IMAGE),
        args=tuple(str(a) for a in container.get("args") or ()),
        port=int(ports[0].get("containerPort") or names.CONTAINER_PORT),
        replicas=int(spec["replicas"]) if spec.get("replicas") is not None else 1,
    )


def init_workload(
    snap: Snapshot, version: str, image: str | None = None, port: int | None = None, replicas: int | None = None
) -> Workload:
    """The workload `init` writes: the existing Deployment's (so a re-run keeps a custom image), else the
    defaults; each given flag replaces its field. http-echo's args are regenerated, as in `start`."""
    existing = snap.deployment(version)
    base = workload_of(existing, snap.service, version) if existing is not None else Workload()
    new_image = image or base.image
    new_port = base.port if port is None else port
    args = None if objects.default_args(snap.service, version, new_image, new_port) else (
        base.args if new_image == base.image else ()
    )
    return Workload(new_image, args, new_port, base.replicas if replicas is None else replicas)


def reapplied(existing: Obj, annotations: dict[str, str | None]) -> Obj:
    """An existing object written back whole with some annotations set (or, for None, removed).

    The whole object, not the annotations alone: a server-side apply drops the fields the plugin applied
    before and leaves out now. Its resourceVersion makes the write conditional, so an edit made since
    the read is never overwritten; the Deployment controller's revision annotation is not ours to send.
    """
    out = manifest(existing)
    version = (existing.get("metadata") or {}).get("resourceVersion")
    meta = out.setdefault("metadata", {})
    if version:
        meta["resourceVersion"] = version
    anns = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REVISION_ANNOTATION}
    for key, value in annotations.items():
        if value is None:
            anns.pop(key, None)
        else:
            anns[key] = value
    if anns:
        meta["annotations"] = anns
    else:
        meta.pop("annotations", None)
    return out


def rebuilt(snap: Snapshot, version: str, role: str | None, workload: Workload | None = None) -> Obj:
    """The Deployment of `version` with its role annotation: the existing one as it is, else a new one."""
    existing = snap.deployment(version)
    if existing is not None:
        return reapplied(existing, {names.ROLE: role})
    assert workload is not None  # callers pass a workload for a Deployment that does not exist yet
    return objects.deployment(snap.service, snap.namespace, version, workload, role or PRIMARY_ROLE)


def readiness(deployment: Obj) -> tuple[int, int]:
    """A Deployment's ready pods and the pods it wants, as its status reports them."""
    status = deployment.get("status")
    ready = status.get("readyReplicas") if isinstance(status, dict) else None
    replicas = (deployment.get("spec") or {}).get("replicas")
    return int(ready or 0), 1 if replicas is None else int(replicas)


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def canary_writes(snap: Snapshot, primary: str, version: str, changes: Changes) -> list[Obj]:
    """The canary's Deployment, a copy of the primary's (SPEC 1), and the twin of the primary's autoscaler.

    A canary that is deployed already is written back as it is, or, given changes, as a copy of itself
    with them (`start` again with another --image), conditional on the version it was read at.
    """
    existing = snap.deployment(version)
    if existing is not None:
        if changes == NO_CHANGES:
            deployment = reapplied(existing, {names.ROLE: CANARY_ROLE})
        else:
            deployment = canary_deployment(existing, snap.service, snap.namespace, version, changes, CANARY_ROLE)
            deployment["metadata"]["name"] = name_of(existing)
            if (existing.get("metadata") or {}).get("resourceVersion"):
                deployment["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        return [deployment]
    source = snap.deployment(primary)
    if source is None:
        raise NotFound(
            f"Deployment of primary {primary} of service {snap.service} not found in namespace {snap.namespace}: "
            f"the canary is a copy of it; recreate it, or `kubectl canary adopt {snap.service} --version {primary}` "
            "to label the Deployment that runs it"
        )
    writes = [canary_deployment(source, snap.service, snap.namespace, version, changes, CANARY_ROLE)]
    hpa = hpa_targeting(snap.hpas, name_of(source))
    if hpa is not None:
        writes.append(canary_hpa(hpa, name_of(writes[0])))
    return writes


def removed(snap: Snapshot, version: str) -> list[ObjectRef]:
    """What removing `version` deletes: its Deployment, and the autoscaler that scales it."""
    ref = deployment_ref(snap, version)
    hpa = hpa_targeting(snap.hpas, ref.name)
    return [ref] + ([ObjectRef.of(hpa)] if hpa is not None else [])


