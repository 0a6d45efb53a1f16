"""The Deployment DELETE rule: the last Deployment that serves a destination with traffic stays.

Deleting the last Deployment whose pods serve a destination some RouteTable still sends traffic to is
denied, naming the RouteTable and route; for a weight-0 destination (no traffic) it is allowed with a
warning. The plugin's `finish` moves all traffic to the new version before deleting the old one. The
rule is registered in `webhook.admission.rules` as `lastDeploymentServing`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kubectl_canary.core.kinds import Obj, ObjectRef
from kubectl_canary.core.routetable import Destination, UpstreamRef, destinations
from webhook.admission.decision import Context, Problem
from webhook.admission.lookup import labels_serve, name_of, namespace_of, pod_labels, serves
from webhook.admission.validation import carries_traffic, kube_selector, kube_spec


def _going(deployment: Mapping[str, Any]) -> bool:
    """Whether the Deployment is being deleted already (its pods are about to go too)."""
    meta = deployment.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("deletionTimestamp"))


def _others(ctx: Context, name: str, namespace: str) -> list[dict[str, str]]:
    """The pod labels of every Deployment of `namespace` other than `name` and not being deleted itself.

    Only a fresh read answers: a yes from the watch cache could allow the delete on a Deployment deleted a
    moment ago (`kubectl delete deploy a b`), and a no could deny for one created a moment ago. It is one
    API read per request, made only once a destination that the Deployment serves is found; the labels are
    read once, since each destination asks about every Deployment.
    """
    fresh = ctx.lookup.deployments(namespace, fresh=True)
    return [pod_labels(d) for d in fresh if name_of(d) != name and not _going(d)]


def _protected(ctx: Context, deployment: Obj, namespace: str) -> Iterator[tuple[Obj, Destination]]:
    """Every (RouteTable, destination) that `deployment` serves, with no other Deployment serving it.

    Only the RouteTables that name an Upstream selecting the Deployment's pods are read (the lookup's
    indexes), so the decision does not grow with the number of RouteTables in the cluster.
    """
    name = name_of(deployment)
    others: list[dict[str, str]] | None = None
    for upstream in ctx.lookup.upstreams_for(namespace):
        kube = kube_spec(upstream)
        selector = kube_selector(kube) if kube is not None else {}
        if kube is None or not serves(deployment, selector, {}):
            continue
        ref = UpstreamRef(namespace_of(upstream), name_of(upstream))
        for rt in sorted(ctx.lookup.routetables_to(ref.namespace, ref.name), key=lambda r: str(ObjectRef.of(r))):
            for dest in destinations(rt):
                subset = dest.subset_values
                if dest.upstream != ref or not serves(deployment, selector, subset):
                    continue
                others = _others(ctx, name, namespace) if others is None else others
                if not any(labels_serve(labels, selector, subset) for labels in others):
                    yield rt, dest


def check_deployment_delete(ctx: Context) -> Iterator[Problem]:
    """Deleting the last Deployment behind a destination with traffic is denied (weight 0: warned)."""
    if not ctx.is_deployment_delete or ctx.review.old is None:
        return
    deployment, namespace = ctx.review.old, ctx.namespace
    name = name_of(deployment) or ctx.review.name
    for rt, dest in _protected(ctx, deployment, namespace):
        holder = str(ObjectRef.of(rt))
        if carries_traffic(dest):
            yield Problem(
                "deployment-in-use",
                f"Deployment {namespace}/{name} is the last one serving {holder} {dest.describe()}; "
                "move that traffic to another version first",
            )
        else:
            yield Problem(
                "deployment-in-use",
                # The key words lead: warnings are cut at 120 characters and names can be long.
                f"weight 0 left on the last Deployment {name}: {holder} {dest.describe()}",
                deny=False,
            )
