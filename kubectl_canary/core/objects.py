"""Builders for the four objects of a managed service, as the seed's chart renders them (SPEC 1).

Each builder returns a fresh dict with every field the chart renders, plus the managed-by label and
the state annotations. Extra fields a user or controller has set on an existing object are kept by
the server-side apply that writes them; the builders describe only the fields the plugin owns.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_canary.core import names
from kubectl_canary.core.kinds import DEPLOYMENT, ROUTETABLE, SERVICE, UPSTREAM, Obj
from kubectl_canary.core.routes import RouteState, destination, initial_route, render_base
from kubectl_canary.core.routetable import UpstreamRef


@dataclass(frozen=True)
class Workload:
    """How one version runs: its image, args, container port and replicas."""

    image: str = names.DEFAULT_IMAGE
    args: tuple[str, ...] | None = None
    port: int = names.CONTAINER_PORT
    replicas: int = 1


def default_args(service: str, version: str, image: str, port: int) -> tuple[str, ...]:
    """http-echo's args (the seed's); any other image gets none unless given."""
    if image.split("@")[0].split(":")[0] != names.DEFAULT_IMAGE:
        return ()
    return (f"-text=version:{names.deployment_name(service, version)}", f"-listen=:{port}")


def _metadata(name: str, namespace: str, annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "labels": {names.MANAGED_BY: names.MANAGER}}
    if annotations:
        meta["annotations"] = annotations
    return meta


def deployment(service: str, namespace: str, version: str, workload: Workload, role: str) -> Obj:
    """The Deployment `S-V`: pods labelled `app: S`, `version: V`, one container `S-V`."""
    pod_labels = {names.APP_KEY: service, names.VERSION_KEY: version}
    args = workload.args if workload.args is not None else default_args(
        service, version, workload.image, workload.port
    )
    container: Obj = {"image": workload.image}
    if args:
        container["args"] = list(args)
    container.update(
        {
            "imagePullPolicy": "Always",
            "name": names.deployment_name(service, version),
            "ports": [{"containerPort": workload.port}],
        }
    )
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": _metadata(names.deployment_name(service, version), namespace, {names.ROLE: role}),
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "template": {
                "metadata": {"labels": dict(pod_labels)},
                "spec": {"containers": [container]},
            },
        },
    }


def service(name: str, namespace: str, target_port: int = names.CONTAINER_PORT) -> Obj:
    """The Service `S`: port 80 to the pods' port, selecting `app: S` (every version)."""
    return {
        "apiVersion": SERVICE.api_version,
        "kind": SERVICE.kind,
        "metadata": _metadata(name, namespace),
        "spec": {
            "ports": [{"port": names.SERVICE_PORT, "targetPort": target_port, "protocol": "TCP"}],
            "selector": {names.APP_KEY: name},
        },
    }


def upstream(name: str, namespace: str) -> Obj:
    """The Gloo Upstream `S` with a `version` subset, so routes can pick a version.

    `servicePort` is the Service's port, not the pods' (SPEC 1): Gloo looks it up among the Service's
    ports, and the seed's 8080 gives a cluster with no endpoints that Gloo still marks Accepted.
    """
    return {
        "apiVersion": UPSTREAM.api_version,
        "kind": UPSTREAM.kind,
        "metadata": _metadata(name, namespace),
        "spec": {
            "kube": {
                "selector": {names.APP_KEY: name},
                "serviceName": name,
                "serviceNamespace": namespace,
                "servicePort": names.SERVICE_PORT,
                "subsetSpec": {"selectors": [{"keys": [names.VERSION_KEY]}]},
            }
        },
    }


def state_annotations(service: str, state: RouteState) -> dict[str, str]:
    """The RouteTable annotations that record the intended state (SPEC 1) and the service it routes (so
    `list` names the service of a RouteTable of any name)."""
    found = {names.SERVICE_ANNOTATION: service, names.PHASE: state.phase, names.PRIMARY: state.primary}
    if state.canary is not None:
        found[names.CANARY] = state.canary
        found[names.WEIGHT] = str(state.weight)
    return found


def routetable(
    service: str, namespace: str, state: RouteState, api_group: str | None, prefix: str | None = None
) -> Obj:
    """The RouteTable `S-routes` of a new service, in `state`, with one route for `prefix` (default `/S`),
    as the seed's chart renders it; without `api_group` the label is left for the webhook."""
    meta = _metadata(names.routetable_name(service), namespace, state_annotations(service, state))
    if api_group:
        meta["labels"][names.API_GROUP] = api_group
    upstream = UpstreamRef(namespace, service)
    first = initial_route(upstream, prefix or names.default_prefix(service), state.primary)
    return {
        "apiVersion": ROUTETABLE.api_version,
        "kind": ROUTETABLE.kind,
        "metadata": meta,
        "spec": {"routes": render_base(first, destination(upstream, state.primary), state)},
    }
