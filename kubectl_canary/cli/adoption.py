"""`kubectl canary adopt`: bring a running service under the plugin (`core.adopt` plans each step).

On a cluster the command waits between the two steps, for the Deployment's relabelled pods to be
rolled out, watching its Pods; in a directory (`--files`) or a dry run it writes the first step and
says to run it again once that is applied, since nothing there rolls anything out.
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.group import ATTEMPTS, checked, cli, routetable_option, run_plan
from kubectl_canary.cli.options import Invocation, common_options, complete_services, invocation
from kubectl_canary.cli.output import note
from kubectl_canary.core.adopt import Adoption, plan_adopt, rollout_pending
from kubectl_canary.core.errors import ClusterError, Modified, StateConflict, UsageError
from kubectl_canary.core.kinds import POD, VIRTUAL_SERVICE
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.store import read_snapshot

# Seconds between two looks at a rollout that is not done yet.
POLL = 1.0


def _virtualservices(inv: Invocation, snap: Snapshot) -> list[Any]:
    """The VirtualServices, read only to say what to do when no RouteTable routes to the service."""
    if snap.routetable is not None:
        return []
    try:
        return inv.store.list(VIRTUAL_SERVICE, None)
    except ClusterError:
        return []


def _pending(inv: Invocation, snap: Snapshot, version: str) -> str | None:
    """What keeps the rollout of `version`'s labelled pods from being done (None on a store that runs none)."""
    deployment = snap.deployment(version)
    if not inv.store.live or deployment is None:
        return None
    selector = ",".join(f"{k}={v}" for k, v in sorted(snap.selector.items()))
    return rollout_pending(deployment, inv.store.list(POD, inv.namespace, selector), snap.selector, version)


def _step(inv: Invocation, service: str, version: str, deployment: str | None, routetable: str | None) -> Adoption:
    """Read the service, plan its next adoption step, and run it (reading again when another writer came
    between the read and a write: every write is conditional on what was read)."""
    last: Modified | None = None
    for _ in range(ATTEMPTS):
        snap = read_snapshot(inv.store, inv.namespace, service, routetable)
        adoption = plan_adopt(snap, version, deployment, _pending(inv, snap, version), _virtualservices(inv, snap))
        try:
            run_plan(inv, snap, adoption.plan)
            return adoption
        except Modified as err:
            last = err
            note(f"{err}; reading it again")
    raise StateConflict(f"{last}; it changed again on each of {ATTEMPTS} tries: run the command again")


def _wait(inv: Invocation, service: str, version: str, routetable: str | None, deadline: float, env: Env) -> None:
    """Until the rollout of `version`'s labelled pods is done (StateConflict at the deadline), saying what
    is pending each time it changes."""
    said = ""
    while True:
        pending = _pending(inv, read_snapshot(inv.store, inv.namespace, service, routetable), version)
        if pending is None:
            return
        if pending != said:
            note(f"waiting for the rollout: {pending}")
            said = pending
        if env.clock() >= deadline:
            raise StateConflict(f"timed out waiting for the rollout ({pending}); the routes were not moved: run "
                                f"`kubectl canary adopt {service} --version {version}` again once it is done")
        env.sleep(POLL)


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--version", "version", required=True, help="The version the service runs now, e.g. v1.")
@click.option("--deployment", metavar="NAME",
              help="The Deployment that runs it (default: the one whose pods the Service selects).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              metavar="SECONDS", help="How long to wait for the relabelled pods to roll out.")
@routetable_option
@common_options(writes=True)
def adopt(service: str, version: str, deployment: str | None, timeout: float, routetable: str | None,
          **common: Any) -> None:
    """Bring SERVICE, which runs already, under kubectl-canary at --version, deleting and recreating nothing.

    Its Deployment's pods get the `version` label (a rolling update), its Upstream the `version` subset;
    once every ready pod carries the label, the routes to the service move to that version. Running it
    again completes a half-done adoption.
    """
    checked(service, version)
    if common.pop("values", None) is not None:
        raise UsageError("adopt brings running objects under kubectl-canary; a values file of the gloo-app chart "
                         "is managed already: use the other commands with --values")
    inv = invocation(**common)
    env = click.get_current_context().find_object(Env) or Env()
    deadline = env.clock() + timeout
    adoption = _step(inv, service, version, deployment, routetable)
    while adoption.waits_for is not None:
        if not inv.store.live or inv.dry_run != "none":
            note(f"once {adoption.waits_for} has rolled out, run `kubectl canary adopt {service} --version {version}` "
                 "again to move the routes")
            return
        _wait(inv, service, version, routetable, deadline, env)
        adoption = _step(inv, service, version, deployment, routetable)
    note(f"service {service} is managed at version {version}: `kubectl canary start {service} --version V` "
         "rolls out the next one")
