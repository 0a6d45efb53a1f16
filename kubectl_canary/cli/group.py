"""What every `kubectl canary` command shares: the click group, and running a plan against a store.

Each mutating command is the same four steps: open the store its flags name, read the service's
`Snapshot`, call its pure `plan_*` function, and execute the plan (or print it, for
`--dry-run=client -o`). Domain errors become `error: <message>` on stderr, exit 1 (usage errors 2),
in `CanaryGroup`; click's own usage errors keep their exit code 2. The commands live in
`cli.commands`, `cli.adoption` and `cli.inspection`; `cli.main` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.options import Invocation
from kubectl_canary.cli.output import flush_warnings, note, outcome_line, render_objects, resource
from kubectl_canary.core import names
from kubectl_canary.core.errors import CanaryError, Modified, StateConflict
from kubectl_canary.core.plan import Plan
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.store import Outcome, execute, read_snapshot
from kubectl_canary.store.gateway import drain

# Seconds between moving traffic off a Deployment and deleting it (see store.gateway.drain).
DRAIN_DELAY = 5.0
# How often a command reads and plans again when another writer keeps changing what it writes.
ATTEMPTS = 3


routetable_option = click.option(
    "--routetable", metavar="NAME",
    help="The RouteTable to manage, when several in the namespace route to the service (default: found).")


drain_option = click.option(
    "--drain-delay", type=click.FloatRange(min=0), default=DRAIN_DELAY, show_default=True, metavar="SECONDS",
    help="On a cluster: how long the gateway gets to take the new routes before a Deployment is deleted.")


class CanaryGroup(click.Group):
    """A click group that turns a domain error into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CanaryError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=CanaryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kubectl-canary", message="kubectl-canary %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Two-phase canary releases on Gloo Edge: header-matched traffic first, then weighted shifts.

    State lives in the objects themselves (RouteTable annotations and routes, Deployment roles), in a
    cluster or, with --files DIR, in a directory of manifests.
    """
    ctx.ensure_object(Env)


def run_plan(inv: Invocation, snap: Snapshot, plan: Plan, drain_delay: float = 0.0) -> None:
    """Execute `plan`, made from `snap`, on the invocation's store (or print it for `--dry-run=client -o`).

    On a cluster, the plan's deletes wait `drain_delay` seconds after its writes (`store.gateway.drain`).
    """
    if inv.dry_run == "client" and inv.output:
        click.echo(render_objects(list(plan.writes), inv.output), nl=False)
        for ref in plan.deletes:
            note(f"{resource(ref)} would be deleted (dry run)")
        for message in plan.messages:
            note(message)
        return

    def report(outcome: Outcome) -> None:
        flush_warnings(inv.store)
        if outcome.action == "deleted" and inv.output:
            note(outcome_line(outcome, inv.dry_run))
        elif not inv.output:
            click.echo(outcome_line(outcome, inv.dry_run))

    before_deletes = None
    if inv.store.live and drain_delay > 0:
        env = click.get_current_context().find_object(Env) or Env()
        rt = snap.routetable_ref

        def before_deletes() -> None:
            note(f"waiting {drain_delay:g}s for the gateway to stop sending traffic to what is deleted next "
                 "(--drain-delay)")
            drain(inv.store, rt, drain_delay, sleep=env.sleep)

    try:
        outcomes = execute(inv.store, plan, inv.dry_run, report, snap.read_objects(), before_deletes)
    finally:
        flush_warnings(inv.store)
    if inv.output:
        click.echo(render_objects([o.obj for o in outcomes if o.obj is not None], inv.output), nl=False)
    for message in plan.messages:
        note(message)


def apply_plan(
    inv: Invocation, service: str, routetable: str | None, planner: Callable[[Snapshot], Plan],
    drain_delay: float = 0.0, autoscalers: bool = False,
) -> None:
    """Read the service, plan, and run the plan; when another writer changed an object between the read
    and a write (the writes are conditional on what was read), read again and plan anew. `autoscalers`:
    the plan writes or deletes a Deployment, so it needs the namespace's HorizontalPodAutoscalers."""
    last: Modified | None = None
    for _ in range(ATTEMPTS):
        snap = read_snapshot(inv.store, inv.namespace, service, routetable, autoscalers)
        try:
            run_plan(inv, snap, planner(snap), drain_delay)
            return
        except Modified as err:
            last = err
            note(f"{err}; reading it again")
    raise StateConflict(f"{last}; it changed again on each of {ATTEMPTS} tries: run the command again")


def checked(service: str, version: str | None = None, api_group: str | None = None) -> None:
    """Validate a command's names before any store is opened: a usage error exits 2 without a cluster."""
    names.check_service(service)
    if version is not None:
        names.check_version(service, version)
    if api_group:
        names.check_label_value("--api-group", api_group)


