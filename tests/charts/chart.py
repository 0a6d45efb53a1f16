"""The real `helm` rendering charts/gloo-app: the Helm binaries build-tools.sh builds (Helm 3 and Helm 4),
found through tests/e2e/tools.py; a missing binary skips locally and fails in CI (tests/required.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from kubectl_canary.core.kinds import Obj
from tests.e2e import tools
from tests.required import missing_tool

CHART = Path(__file__).resolve().parents[2] / "charts" / "gloo-app"
SEED_VALUES = Path(__file__).resolve().parents[1] / "data" / "seed-values"
HELMS = ["helm", "helm4"]


def helm_binary(name: str = "helm") -> Path:
    path = tools.tool(name)
    if not path.exists():
        missing_tool(f"{name} not built at {path}: run `bash tests/e2e/build-tools.sh`")
    return path


def helm(*args: str, name: str = "helm") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_binary(name)), *args], capture_output=True, text=True, timeout=60, check=False)


def render(values: Path | dict[str, Any], release: str = "echo", namespace: str = "echo",
           name: str = "helm", tmp: Path | None = None) -> list[Obj]:
    """The objects `helm template` renders for `values` (a file, or a dict written next to `tmp`)."""
    if isinstance(values, dict):
        assert tmp is not None
        path = tmp / "values.yaml"
        path.write_text(yaml.safe_dump(values), encoding="utf-8")
        values = path
    proc = helm("template", release, str(CHART), "-n", namespace, "-f", str(values), name=name)
    assert proc.returncode == 0, proc.stderr
    return flatten([d for d in yaml.safe_load_all(proc.stdout) if d])


def flatten(docs: list[Obj]) -> list[Obj]:
    """The objects Helm creates from rendered documents: a `List`'s items in order (as Helm does)."""
    return [item for d in docs for item in (d.get("items") or [] if d.get("kind") == "List" else [d])]


def render_error(values: dict[str, Any], tmp: Path, name: str = "helm") -> str:
    """What `helm template` says when it refuses `values`."""
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    proc = helm("template", "echo", str(CHART), "-n", "echo", "-f", str(path), name=name)
    assert proc.returncode != 0, f"helm accepted {values}:\n{proc.stdout}"
    return proc.stderr
