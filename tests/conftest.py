"""Shared test helpers: the objects of a managed service in a given state, and the seed's expectations."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import settings

from kubectl_canary.core import objects
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.routes import RouteState

SEED_DIR = Path(__file__).parent / "data" / "seed"

# Examples per Hypothesis property: 300 in `make test` and a plain pytest run; `make test-fast` passes
# --hypothesis-profile=fast for Hypothesis's own default of 100, the same properties searched less deeply.
settings.register_profile("thorough", max_examples=300)
settings.register_profile("fast", max_examples=100)
settings.load_profile("thorough")


def service_objects(state: RouteState, roles: dict[str, str | None], namespace: str = "echo",
                    service: str = "echo", api_group: str | None = "example", prefix: str | None = None) -> list[Obj]:
    """Service, Upstream, RouteTable for `state` (one route for `prefix`, default `/S`), and one Deployment
    per version in `roles` (None: no role)."""
    found = [objects.service(service, namespace), objects.upstream(service, namespace),
             objects.routetable(service, namespace, state, api_group, prefix)]
    for version, role in roles.items():
        dep = objects.deployment(service, namespace, version, Workload(), role or "primary")
        if role is None:
            del dep["metadata"]["annotations"]
        found.append(dep)
    return found


def seed_objects(step: int) -> list[Obj]:
    """The objects the seed's chart renders for values-`step` (tests/data/seed, written from the seed text)."""
    text = (SEED_DIR / f"values-{step}.yaml").read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if d]


def accepted(obj: Obj, state: str = "Accepted", reason: str = "") -> Obj:
    """`obj` with the status Gloo writes (`status.statuses.gloo-system`)."""
    return {**obj, "status": {"statuses": {"gloo-system": {"state": state, "reason": reason, "reportedBy": "gloo"}}}}


def data_path(ready: dict[str, int], namespace: str = "echo", service: str = "echo",
              api_group: str = "example") -> list[Obj]:
    """What a healthy cluster adds for a service: one Running pod per ready endpoint of each version, the
    EndpointSlice listing them, and a VirtualService (Accepted by Gloo) delegating to the api group."""
    pods, endpoints = [], []
    for version, count in ready.items():
        for i in range(count):
            name = f"{service}-{version}-abc12-{i}"
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": name, "namespace": namespace, "labels": {"app": service, "version": version}}})
            endpoints.append({"addresses": [f"10.244.0.{len(pods) + 1}"], "conditions": {"ready": True},
                              "targetRef": {"kind": "Pod", "name": name, "namespace": namespace}})
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {
        "name": f"{service}-x1", "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
        "endpoints": endpoints}
    vs = accepted({"apiVersion": "gateway.solo.io/v1", "kind": "VirtualService",
                   "metadata": {"name": "app", "namespace": "gloo-system"},
                   "spec": {"virtualHost": {"domains": ["*"], "routes": [{"matchers": [{"prefix": "/"}],
                            "delegateAction": {"selector": {"labels": {"apiGroup": api_group},
                                                            "namespaces": ["*"]}}}]}}})
    return [*pods, eps, vs]
