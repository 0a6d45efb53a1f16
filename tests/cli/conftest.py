"""Running `kubectl canary` in-process with click's CliRunner, on a directory or on a MemoryStore."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.main import cli
from kubectl_canary.store import Store

Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    """run(*args, store=None, env=None): invoke the CLI; with `store`, every command uses that store."""

    def invoke(*args: str, store: Store | None = None, env: Env | None = None) -> Result:
        if env is None:
            env = Env(store_factory=(lambda _options: store)) if store is not None else Env()
        return CliRunner().invoke(cli, list(args), obj=env, prog_name="kubectl canary")

    return invoke


def read_tree(root: Path) -> dict[str, str]:
    """Every file below `root` with its text, to show that a command left a directory untouched."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def objects_in(root: Path) -> dict[str, dict]:
    """The objects in a directory by `Kind/namespace/name`."""
    found = {}
    for path in root.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                meta = doc["metadata"]
                found[f"{doc['kind']}/{meta.get('namespace', '')}/{meta['name']}"] = doc
    return found
