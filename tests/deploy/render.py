"""Where the install files are, and their kustomize renderings as lists of objects (dicts).

Used by the fast tests here and by tests/e2e/test_deploy.py. Rendering needs kubectl (its built-in
kustomize): the system kubectl by default, else the one the e2e tools build; without either the tests
skip, and in CI (tests/required.py) they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from required import missing_tool

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "base"
OVERLAY = DEPLOY / "overlays" / "cert-manager"
CHART = DEPLOY / "helm" / "canary-webhook"
EXAMPLE_POLICY = DEPLOY / "examples" / "example-policy.yaml"
CRD_FILE = BASE / "crd-canarypolicy.yaml"

NAMESPACE = "canary-system"
Obj = dict[str, Any]


def kubectl_binary() -> str | None:
    """kubectl on PATH, else the one built for the e2e tests (if it has been built)."""
    found = shutil.which("kubectl")
    if found:
        return found
    # tests/ is not a package: pytest puts tests/ on sys.path, so the e2e package imports as `e2e`.
    from e2e import tools

    built = tools.tool("kubectl")
    return str(built) if built.exists() else None


def load_all(text: str) -> list[Obj]:
    """The non-empty YAML documents of `text`."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: Path, kubectl: str | None = None) -> list[Obj]:
    """The objects `kubectl kustomize PATH` renders."""
    kubectl = kubectl or kubectl_binary()
    if kubectl is None:
        missing_tool("no kubectl (with built-in kustomize) on PATH and the e2e tools are not built (make tools)")
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n{proc.stderr}"
    return load_all(proc.stdout)


def find(objs: Iterable[Obj], kind: str, name: str) -> Obj:
    """The one object of `kind` named `name`."""
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def of_kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]
