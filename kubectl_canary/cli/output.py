"""How results are printed: kubectl-like lines, objects as YAML or JSON, warnings and notes on stderr.

Results go to stdout (the lines `deployment.apps/echo-v2 created`, or the objects with `-o`);
diagnostics go to stderr (warnings from the server as `Warning: ...`, the plan's notes, deletions
when stdout carries objects).
"""

from __future__ import annotations

import json
from typing import Any

import click

from kubectl_canary.core.kinds import Obj, ObjectRef, kind_named
from kubectl_canary.store import DryRun, Outcome, Store
from kubectl_canary.store.directory import dump

_DRY_RUN_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def resource(ref: ObjectRef) -> str:
    """kubectl's name for an object: `deployment.apps/echo-v2`, `service/echo`."""
    kind = kind_named(ref.kind)
    group = kind.group if kind else ""
    return f"{ref.kind.lower()}{'.' + group if group else ''}/{ref.name}"


def outcome_line(outcome: Outcome, dry_run: DryRun) -> str:
    return f"{resource(outcome.ref)} {outcome.action}{_DRY_RUN_SUFFIX[dry_run]}"


def render(data: Any, output: str) -> str:
    """`data` as JSON (indented, like kubectl) or YAML (block style, keys in their order)."""
    if output == "json":
        return json.dumps(data, indent=4) + "\n"
    return dump(data)


def render_objects(objects: list[Obj], output: str) -> str:
    """Objects as multi-document YAML, or as a `v1` `List` in JSON (as `kubectl get -o json` prints)."""
    if output == "json":
        return render({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}},
                      "json")
    return "---\n".join(render(o, "yaml") for o in objects)


def flush_warnings(store: Store) -> None:
    """Print and forget the warnings the store collected, as kubectl does: `Warning: <text>` on stderr."""
    for warning in store.warnings:
        click.echo(f"Warning: {warning}", err=True)
    store.warnings.clear()


def note(message: str) -> None:
    click.echo(message, err=True)
