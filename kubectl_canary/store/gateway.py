"""The gateway as a store shows it: what `status` reads of the data path, and the drain before a delete.

`read_observed` reads the objects `core.datapath` judges (Upstream, Service, EndpointSlices, Pods,
and the VirtualServices when the user may list them) for a store where controllers run.

`drain` runs between a plan's writes and its deletes (`finish`, `abort --delete-canary`): Gloo
reports nothing that ties its status to a RouteTable's generation, and skips a status write when the
verdict does not change, so no object says "Envoy now has these routes". Like Argo Rollouts'
`scaleDownDelaySeconds`, the old Deployment is kept for a delay after the traffic moves, so requests
that Envoy still routes by the old routes find it serving; then a `Rejected` verdict on the
RouteTable stops the command before anything is deleted, since the traffic may not have moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubectl_canary.core.datapath import Observed, verdict
from kubectl_canary.core.errors import ClusterError, StateConflict
from kubectl_canary.core.kinds import ENDPOINT_SLICE, POD, ROUTETABLE, VIRTUAL_SERVICE, ObjectRef
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.store import Store

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def read_observed(store: Store, snap: Snapshot) -> Observed | None:
    """The data path's objects for `snap`'s service; None for a store without controllers (a directory)."""
    if not store.live or snap.routetable is None:
        return None
    ns, service = snap.namespace, snap.service
    try:
        parents = store.list(VIRTUAL_SERVICE, None)
    except ClusterError as err:
        store.warnings.append(f"cannot tell which VirtualService delegates to {snap.routetable_ref}: {err}")
        parents = None
    selector = ",".join(f"{k}={v}" for k, v in sorted(snap.selector.items()))
    return Observed(
        routetable=snap.routetable,
        upstream=snap.upstream_obj,
        service=snap.service_obj,
        endpoint_slices=store.list(ENDPOINT_SLICE, ns, f"{SERVICE_NAME_LABEL}={service}"),
        pods=store.list(POD, ns, selector),
        virtualservices=parents,
    )


def drain(store: Store, routetable: ObjectRef, delay: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait `delay` seconds for the gateway to take the new routes of `routetable`, then check Gloo's
    verdict: StateConflict, before any delete, when Gloo rejects the RouteTable. (Its status read at
    once could still be the verdict on the routes before this write.)"""
    sleep(delay)
    current = store.get(ROUTETABLE, routetable.namespace, routetable.name)
    seen = verdict(ROUTETABLE.kind, current) if current is not None else None
    if seen is not None and seen.state == "Rejected":
        raise StateConflict(
            f"Gloo rejected {routetable} ({seen.reason.strip() or 'no reason given'}), so traffic may still "
            "reach the old version: no Deployment was deleted; fix the RouteTable and run the command again"
        )
