"""Shared test helpers: the objects of a managed service in a given state, and the seed's expectations."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubectl_canary.core import objects
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.routes import RouteState

SEED_DIR = Path(__file__).parent / "data" / "seed"


def service_objects(state: RouteState, roles: dict[str, str | None], namespace: str = "echo",
                    service: str = "echo", api_group: str | None = "example") -> list[Obj]:
    """Service, Upstream, RouteTable for `state`, and one Deployment per version in `roles` (None: no role)."""
    found = [objects.service(service, namespace), objects.upstream(service, namespace),
             objects.routetable(service, namespace, state, api_group)]
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
