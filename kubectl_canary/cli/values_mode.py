"""`--values FILE`: every command reads and writes a values file of charts/gloo-app instead of objects (no
cluster needed), as `--files DIR` does for manifests. The file is what a pipeline (Flux's
helm-controller, Argo CD, `helm upgrade -f`) applies later; the plan is `core.values_plan`'s, the text
editing `store.values`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from kubectl_canary.cli.output import note, render
from kubectl_canary.core.errors import UsageError
from kubectl_canary.core.values import ValuesPlan, ValuesState, read_state
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.values import ValuesFile, diff, edited, parse

# (values, where) -> plan
Planner = Callable[[Mapping[str, Any], str], ValuesPlan]

def take_values(common: dict[str, Any]) -> Path | None:
    """Remove `--values` from a command's common flags (the object stores do not take it) and return it."""
    path = common.pop("values", None)
    if path is None:
        return None
    connection = Connection(**{k: v for k, v in common.items() if k in Connection.__dataclass_fields__})
    given = [*connection.given(), *(["--files"] if common.get("files") is not None else [])]
    if given:
        raise UsageError(f"--values reads and writes a values file; it cannot be combined with {', '.join(given)}")
    if common.get("dry_run") == "server":
        raise UsageError("--dry-run=server needs a cluster; with --values use --dry-run=client")
    return Path(path)


def run_values(path: Path, common: Mapping[str, Any], planner: Planner, create: bool = False) -> ValuesPlan:
    """Plan on the file's values and write the edited text (or, with --dry-run=client, print it: the whole
    new values with -o yaml, else a diff)."""
    source = ValuesFile(path, create)
    text = source.read()
    plan = planner(parse(text, source.where), source.where)
    new = edited(text, plan.edits, source.where)
    if common.get("dry_run") == "client":
        if common.get("output"):
            click.echo(new, nl=False)
        else:
            click.echo(diff(text, new, str(path)) or f"{source.where} unchanged (dry run)", nl=False)
            if new != text:
                note(f"{source.where} not written (dry run)")
    elif new != text:
        source.write(new)
        click.echo(f"{source.where} written")
    else:
        click.echo(f"{source.where} unchanged")
    for message in plan.messages:
        note(message)
    return plan


def describe(service: str, state: ValuesState, where: str) -> dict[str, Any]:
    """What `status --values` shows: the phase, the versions and their shares, what is deployed unrouted."""
    out: dict[str, Any] = {"service": service, "source": where}
    routes = state.routes
    if routes is None:
        out["phase"] = "none"
    else:
        out["phase"] = routes.phase
        out["primary"] = {"version": routes.primary, "weight": 100 - routes.weight}
        if routes.canary is not None:
            out["canary"] = {"version": routes.canary, "weight": routes.weight,
                             "headers": {n: v for n, v in routes.headers}}
    out["deployed"] = list(state.versions)
    if state.unrouted():
        # The seed's values-2 (`start --no-route`): a step of the workflow, not drift.
        out["deployedWithoutTraffic"] = list(state.unrouted())
    return out


def status_table(info: Mapping[str, Any], service: str) -> str:
    lines = [f"Service:  {service} ({info['source']})", f"Phase:    {info['phase']}"]
    if "primary" in info:
        lines.append(f"Primary:  {info['primary']['version']} (weight {info['primary']['weight']})")
    if "canary" in info:
        headers = ", ".join(f"{n}={v}" for n, v in info["canary"]["headers"].items())
        lines.append(f"Canary:   {info['canary']['version']} (weight {info['canary']['weight']}, header {headers})")
    lines.append(f"Deployed: {', '.join(info['deployed']) or '-'}")
    for version in info.get("deployedWithoutTraffic", ()):
        lines.append(f"Next:     {version} is deployed without traffic (start --no-route); route header traffic "
                     f"to it with `kubectl canary start {service} --version {version}`, or remove it with "
                     f"`kubectl canary abort {service} --delete-canary`")
    return "\n".join(lines)


def show_status(path: Path, service: str, output: str | None) -> None:
    source = ValuesFile(path)
    info = describe(service, read_state(parse(source.read(), source.where), source.where), source.where)
    if output in ("yaml", "json"):
        click.echo(render(info, output), nl=False)
    else:
        click.echo(status_table(info, service))
