"""The line `kubectl canary list` shows for a managed service (`Summary`), read from its RouteTable
alone, and the `list` table. A RouteTable the plugin cannot read as managed is listed as `unmanaged`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.kinds import Obj, annotations_of
from kubectl_canary.core.routes import Managed, recognise
from kubectl_canary.core.routetable import destinations, own_namespace
from kubectl_canary.core.status import UNMANAGED
from kubectl_canary.core.tables import columns, dash


@dataclass(frozen=True)
class Summary:
    """One line of `kubectl canary list`: a managed service and its phase."""

    namespace: str
    service: str
    phase: str
    primary: str | None
    canary: str | None
    weight: int | None
    # The Helm release that owns the RouteTable, and its revision when known (`helm list`).
    release: str | None = None
    revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for key in ("release", "revision"):
            if found[key] is None:
                del found[key]
        return found


def summary_of(rt: Obj) -> Summary:
    """The list line of a managed RouteTable, from its routes to the service its annotation names (the
    RouteTable's name without `-routes` for one written before the annotation existed)."""
    meta = rt.get("metadata") or {}
    name = str(meta.get("name", ""))
    service = annotations_of(rt).get(names.SERVICE_ANNOTATION) or name.removesuffix("-routes")
    namespace = str(meta.get("namespace", ""))
    release = annotations_of(rt).get(names.HELM_RELEASE) or None
    try:
        state = _managed_of(rt, service).state
    except UnmanagedShape:
        return Summary(namespace, service, UNMANAGED, None, None, None, release)
    return Summary(namespace, service, state.phase, state.primary, state.canary,
                   state.weight if state.canary else None, release)


def _managed_of(rt: Obj, service: str) -> Managed:
    """The managed routes of a RouteTable read without its Upstream at hand (`list`): the routes to the
    first Upstream they name that reads as managed (an adopted service's Upstream may have any name)."""
    named = sorted({d.upstream for d in destinations(rt) if d.upstream is not None})
    first: UnmanagedShape | None = None
    for upstream in sorted(named, key=lambda u: u.name != service):
        try:
            return recognise(rt, service, upstream)
        except UnmanagedShape as err:
            first = first or err
    raise first or UnmanagedShape(f"RouteTable {own_namespace(rt)}/{(rt.get('metadata') or {}).get('name')} "
                                  "sends traffic to no Upstream")


def render_list(summaries: list[Summary], all_namespaces: bool) -> str:
    """The `list` table, with a NAMESPACE column for -A (as kubectl prints one)."""
    helm = any(s.release for s in summaries)
    head = (["NAMESPACE"] if all_namespaces else []) + ["SERVICE", "PHASE", "PRIMARY", "CANARY", "WEIGHT"]
    rows = [head + (["RELEASE"] if helm else [])] + [
        ([s.namespace] if all_namespaces else []) + [s.service, s.phase, dash(s.primary), dash(s.canary),
                                                      dash(s.weight)] + ([_release(s)] if helm else [])
        for s in summaries
    ]
    return columns(rows)


def _release(summary: Summary) -> str:
    if not summary.release:
        return "-"
    return summary.release + (f" (revision {summary.revision})" if summary.revision is not None else "")
