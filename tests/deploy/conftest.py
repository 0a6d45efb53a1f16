"""Fixtures for the deploy/ tests: the kustomize renderings of the two installs. No cluster is needed."""

from __future__ import annotations

import pytest

from .render import DEPLOY, OVERLAY, Obj, kustomize


@pytest.fixture(scope="session")
def base_objects() -> list[Obj]:
    """`kubectl kustomize deploy/`: what `kubectl apply -k deploy/` installs."""
    return kustomize(DEPLOY)


@pytest.fixture(scope="session")
def overlay_objects() -> list[Obj]:
    """`kubectl kustomize deploy/overlays/cert-manager`."""
    return kustomize(OVERLAY)


@pytest.fixture(scope="session", params=["base", "cert-manager"])
def install(
    request: pytest.FixtureRequest, base_objects: list[Obj], overlay_objects: list[Obj]
) -> tuple[str, list[Obj]]:
    """Each kustomize install variant: (name, objects)."""
    return request.param, base_objects if request.param == "base" else overlay_objects
