"""`kubectl canary status` and `list`: the commands that only read.

`status` renders `core.status` (with, on a cluster, the data path and the governing CanaryPolicies)
once or, with --watch/--timeout, whenever it changes; `list` renders `core.summary`'s lines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.group import checked, cli, routetable_option
from kubectl_canary.cli.helm_mode import release_lines, release_status, with_revisions
from kubectl_canary.cli.options import Invocation, common_options, complete_services, invocation
from kubectl_canary.cli.output import flush_warnings, note, render
from kubectl_canary.cli.values_mode import show_status, take_values
from kubectl_canary.core import names
from kubectl_canary.core.datapath import unreadable
from kubectl_canary.core.errors import CanaryError, ClusterError, StateConflict, UsageError
from kubectl_canary.core.kinds import ROUTETABLE, annotations_of
from kubectl_canary.core.policy import Policy
from kubectl_canary.core.status import render_table, status_of
from kubectl_canary.core.summary import render_list, summary_of
from kubectl_canary.store import read_governing, read_snapshot
from kubectl_canary.store.gateway import read_observed


def _governing(inv: Invocation) -> tuple[Policy, ...] | None:
    """The CanaryPolicies governing the namespace; None (with a warning) for a user who may not list them."""
    try:
        return read_governing(inv.store, inv.namespace)
    except ClusterError as err:
        inv.store.warnings.append(f"cannot tell which CanaryPolicies govern namespace {inv.namespace}: {err}")
        return None


def _status_text(inv: Invocation, service: str, routetable: str | None,
                 common: dict[str, Any] | None = None) -> tuple[str, tuple[str, ...]]:
    """The rendered status, and its problems (none: healthy)."""
    snap = read_snapshot(inv.store, inv.namespace, service, routetable)
    release = release_status(inv, snap, common)
    try:
        current = status_of(snap, read_observed(inv.store, snap))
    except ClusterError as err:  # e.g. may read the service's objects, but not list its Pods
        current = dataclasses.replace(status_of(snap), datapath=unreadable(str(err)))
    current = dataclasses.replace(current, policies=_governing(inv))
    flush_warnings(inv.store)
    if inv.output in ("yaml", "json"):
        data = {**current.to_dict(), **({"release": release} if release else {})}
        return render(data, inv.output).rstrip("\n"), current.problems
    return "\n".join([render_table(current), *release_lines(release)]), current.problems


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("-w", "--watch", is_flag=True, help="Redraw whenever the status changes, until interrupted.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Watch until the status is healthy (exit 0), at most this long (then exit 1); implies --watch.")
@routetable_option
@common_options(outputs=("table", "yaml", "json"))
def status(service: str, watch: bool, timeout: float | None, routetable: str | None, **common: Any) -> None:
    """Show SERVICE's phase, versions, weights, header rule, Deployments, drift and governing CanaryPolicies.

    On a cluster it also shows what the data path says (Gloo's verdicts, ready endpoints per version)
    and exits 1 while any problem keeps requests from landing where the routes say. With --timeout it
    watches until the service is healthy, for a pipeline to gate on, as `kubectl argo rollouts status`.
    """
    env = click.get_current_context().find_object(Env) or Env()
    checked(service)
    if (path := take_values(common)) is not None:
        show_status(path, service, common.get("output"))
        return
    inv = invocation(**common)
    if not watch and timeout is None:
        text, problems = _status_text(inv, service, routetable, common)
        click.echo(text)
        if problems:
            click.get_current_context().exit(1)
        return
    deadline = None if timeout is None else env.clock() + timeout
    # Between draws: a cluster's watch API wakes this at a change; a directory is polled (env.wait).
    shown: str | None = None
    try:
        while True:
            try:
                text, problems = _status_text(inv, service, routetable, common)
            except CanaryError as err:
                text, problems = f"error: {err}", (str(err),)
            if text != shown:
                if shown is not None:
                    click.clear()
                    click.echo("---" if inv.output == "yaml" else "")
                click.echo(text)
                shown = text
            left = None if deadline is None else deadline - env.clock()
            if left is not None and not problems:
                return
            if left is not None and left <= 0:
                raise StateConflict(f"timed out after {timeout:g}s waiting for service {service} in namespace "
                                    f"{inv.namespace} to be healthy: {'; '.join(problems)}")
            env.wait(inv.store, inv.namespace, service, left)
    except KeyboardInterrupt:
        return


@cli.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List managed services in every namespace.")
@common_options(outputs=("table", "yaml", "json"))
def list_services(all_namespaces: bool, **common: Any) -> None:
    """List the services kubectl-canary manages, with their phase and weights."""
    if take_values(common) is not None:
        raise UsageError("a values file holds one service: use `kubectl canary status S --values FILE`")
    inv = invocation(**common)
    # RouteTables of any name are managed once they carry the state annotations (adopted ones need not
    # carry the plugin's managed-by label: Helm or another tool may own that label).
    listed = inv.store.list(ROUTETABLE, None if all_namespaces else inv.namespace)
    found = [rt for rt in listed if names.PHASE in annotations_of(rt)]
    summaries = with_revisions(inv, common, sorted((summary_of(rt) for rt in found),
                                                   key=lambda s: (s.namespace, s.service)), all_namespaces)
    flush_warnings(inv.store)
    if inv.output in ("yaml", "json"):
        click.echo(render([s.to_dict() for s in summaries], inv.output), nl=False)
    elif not summaries:
        where = "any namespace" if all_namespaces else f"namespace {inv.namespace}"
        note(f"No services managed by kubectl-canary found in {where} ({inv.store.describe()}).")
    else:
        click.echo(render_list(summaries, all_namespaces))
