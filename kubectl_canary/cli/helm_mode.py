"""Helm mode: on a cluster, a service whose objects belong to a Helm release is changed through that
release. The command reads the release's values (`helm get values`), plans on them as `--values` does
(`core.values_plan`), and runs `helm upgrade` with the edited values, in our order:

1. versions added or changed (their own upgrade, which waits for the pods: `--wait`);
2. the routes;
3. after `--drain-delay`, versions removed.

`finish` from a weight below 100 and `abort --delete-canary` of a canary that takes traffic move the
traffic first, wait for the gateway, and plan again. Writing the release's objects directly is refused
(the next `helm upgrade` would undo it), unless --force-conflicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.options import Invocation
from kubectl_canary.cli.output import note
from kubectl_canary.cli.values_mode import Planner
from kubectl_canary.core.errors import CanaryError, StateConflict, UsageError
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.core.summary import Summary
from kubectl_canary.core.values import Edit, read_state
from kubectl_canary.store import read_snapshot
from kubectl_canary.store.helm import CHART_NAME, Helm, Release, default_chart, release_of
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.values import diff, edited, parse

chart_option = click.option(
    "--chart", metavar="REF",
    help=f"Helm mode: the chart to upgrade the service's Helm release with (default: this project's {CHART_NAME}).")


def connection_of(common: Mapping[str, Any]) -> Connection:
    fields = {k: v for k, v in common.items() if k in Connection.__dataclass_fields__}
    return Connection(**{**fields, "as_groups": tuple(fields.get("as_groups") or ())})


def release_in(snap: Snapshot) -> str | None:
    """The Helm release that owns the service's RouteTable (else any of its Deployments)."""
    for obj in [snap.routetable, *(snap.deployment(v) for v in snap.deployments)]:
        name = release_of(obj)
        if name:
            return name
    return None


def refusal(snap: Snapshot, release: str, why: str) -> StateConflict:
    rt = snap.routetable_ref
    return StateConflict(
        f"RouteTable {rt.namespace}/{rt.name} of service {snap.service} belongs to Helm release {release}, whose "
        f"next `helm upgrade` would undo a direct write ({why}); change it through the release: with `helm` on "
        f"PATH kubectl canary runs `helm upgrade {release}` itself (--chart REF when the release's chart is not "
        f"{CHART_NAME}), or edit the values file your pipeline applies with --values FILE; --force-conflicts "
        "writes the objects anyway")


@dataclass(frozen=True)
class Target:
    """A release to drive: the helm binary, the release, and the chart to upgrade it with."""

    helm: Helm
    release: Release
    chart: str

    @property
    def where(self) -> str:
        return f"Helm release {self.release.namespace}/{self.release.name}"


def target(inv: Invocation, common: Mapping[str, Any], snap: Snapshot, chart: str | None) -> Target | None:
    """The release to drive for `snap`'s service, None when its objects belong to none (or --force-conflicts)."""
    name = release_in(snap)
    if name is None:
        return None
    if common.get("force_conflicts"):
        inv.store.warnings.append(f"writing objects of Helm release {name} directly (--force-conflicts): the next "
                                  f"`helm upgrade {name}` will undo it")
        return None
    helm = Helm.find(connection_of(common))
    if helm is None:
        raise refusal(snap, name, "helm is not on PATH")
    release = helm.release(name, inv.namespace)
    if release is None:
        raise refusal(snap, name, f"helm finds no release {name} in namespace {inv.namespace}")
    ref = chart
    if ref is None and release.chart_name == CHART_NAME:
        found = default_chart()
        ref = str(found) if found else None
    if ref is None:
        raise refusal(snap, name, f"its chart is {release.chart}, not {CHART_NAME}: name it with --chart REF")
    return Target(helm, release, ref)


def phases(edits: tuple[Edit, ...]) -> list[tuple[Edit, ...]]:
    """The edits in our order: versions added or changed, then routes, then versions removed."""
    added = tuple(e for e in edits if e.path[0] == "deployment" and not e.delete)
    routes = tuple(e for e in edits if e.path[0] != "deployment")
    removed = tuple(e for e in edits if e.path[0] == "deployment" and e.delete)
    return [p for p in (added, routes, removed) if p]


def _upgrade(inv: Invocation, goal: Target, edits: tuple[Edit, ...]) -> Target:
    text = goal.helm.values(goal.release.name, goal.release.namespace)
    new = edited(text, edits, goal.where)
    goal.helm.deploy("upgrade", goal.release.name, goal.release.namespace, goal.chart, new, inv.dry_run,
                     before=goal.release)
    after = goal.helm.release(goal.release.name, goal.release.namespace) or goal.release
    suffix = "" if inv.dry_run == "none" else f" ({inv.dry_run} dry run)"
    click.echo(f"Helm release {after.name} upgraded to revision {after.revision}{suffix}")
    return Target(goal.helm, after, goal.chart)


def drive(inv: Invocation, goal: Target, planner: Planner, drain_delay: float) -> None:
    """Plan on the release's values and upgrade it, phase by phase; plan again while the plan says so."""
    env = click.get_current_context().find_object(Env) or Env()
    for _ in range(4):
        text = goal.helm.values(goal.release.name, goal.release.namespace)
        plan = planner(parse(text, goal.where), goal.where)
        if inv.dry_run == "client":
            click.echo(diff(text, edited(text, plan.edits, goal.where), goal.where) or f"{goal.where} unchanged",
                       nl=False)
            for message in plan.messages:
                note(message)
            return
        steps = phases(plan.edits)
        for index, edits in enumerate(steps):
            if index and edits[0].delete and drain_delay > 0 and inv.dry_run == "none":
                note(f"waiting {drain_delay:g}s for the gateway to stop sending traffic to what is removed next "
                     "(--drain-delay)")
                env.sleep(drain_delay)
            goal = _upgrade(inv, goal, edits)
        if not plan.again or inv.dry_run != "none":
            for message in plan.messages:
                if not plan.again:
                    note(message)
            return
        if drain_delay > 0:
            note(f"waiting {drain_delay:g}s for the gateway to take the traffic move before removing a version "
                 "(--drain-delay)")
            env.sleep(drain_delay)
    raise StateConflict(f"{goal.where} still has work left after 4 rounds of upgrades: run the command again")


def through_helm(inv: Invocation, common: Mapping[str, Any], service: str, routetable: str | None,
                 planner: Planner, drain_delay: float = 0.0, chart: str | None = None,
                 check: Callable[[Snapshot], object] | None = None) -> bool:
    """Run the command through the service's Helm release when it has one (True); False to write objects.

    `check` judges the cluster as it is before anything is upgraded (its error stops the command), for the
    refusals that the objects' own plan makes (`shift` to a canary with no ready pod)."""
    if not inv.store.live:
        return False
    snap = read_snapshot(inv.store, inv.namespace, service, routetable)
    goal = target(inv, common, snap, chart)
    if goal is None:
        return False
    if check is not None:
        check(snap)
    drive(inv, goal, planner, drain_delay)
    return True


def install(inv: Invocation, common: Mapping[str, Any], service: str, values: str, chart: str | None) -> None:
    """`init --helm`: install the chart as release SERVICE with `values`."""
    helm = Helm.find(connection_of(common))
    if helm is None:
        raise UsageError("init --helm needs `helm` on PATH")
    ref = chart or (str(default_chart()) if default_chart() else None)
    if ref is None:
        raise UsageError(f"init --helm: this installation has no {CHART_NAME} chart; name one with --chart REF")
    if helm.release(service, inv.namespace) is not None:
        raise StateConflict(f"Helm release {service} already exists in namespace {inv.namespace}; roll out a new "
                            f"version with `kubectl canary start {service} --version V`")
    if inv.dry_run == "client":
        click.echo(values, nl=False)
        return
    helm.deploy("install", service, inv.namespace, ref, values, inv.dry_run)
    release = helm.release(service, inv.namespace)
    click.echo(f"Helm release {service} installed (revision {release.revision if release else 1})")


def release_status(inv: Invocation, snap: Snapshot, common: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """For `status`: the release owning the service (name, revision, status, chart), and a warning when the
    routes differ from what the release's values say (the next `helm upgrade` would undo them)."""
    name = release_in(snap) if inv.store.live else None
    if name is None:
        return None
    out: dict[str, Any] = {"name": name}
    helm = Helm.find(connection_of(common or {}))
    if helm is None:
        out["warning"] = "helm is not on PATH: revision unknown"
        return out
    try:
        release = helm.release(name, inv.namespace)
    except CanaryError as err:
        out["warning"] = str(err)
        return out
    if release is None:
        out["warning"] = f"helm finds no release {name} in namespace {inv.namespace}"
        return out
    out.update(revision=release.revision, status=release.status, chart=release.chart)
    try:
        from kubectl_canary.core.routes import recognise

        wanted = read_state(parse(helm.values(name, inv.namespace), f"Helm release {name}")).routes
        have = recognise(snap.routetable, snap.service, snap.upstream).state if snap.routetable else None
    except Exception as err:  # status reports; it does not fail on a release it cannot read
        out["warning"] = f"cannot compare the routes with release {name}'s values: {err}"
        return out
    if have is not None and wanted is not None and have != wanted:
        out["warning"] = (f"the routes differ from Helm release {name}'s values (written directly, e.g. with "
                          f"--force-conflicts): the next `helm upgrade {name}` will undo them; run the command "
                          "again without --force-conflicts to change the release instead")
    return out


def release_lines(info: Mapping[str, Any] | None) -> list[str]:
    if not info:
        return []
    line = f"Release:     {info['name']}"
    if "revision" in info:
        line += f" (Helm, revision {info['revision']}, {info['status']}, chart {info['chart']})"
    lines = [line]
    if info.get("warning"):
        lines.append(f"Warning:     {info['warning']}")
    return lines



def with_revisions(inv: Invocation, common: Mapping[str, Any], summaries: list[Summary],
                   all_namespaces: bool) -> list[Summary]:
    """For `list`: the revision of each service's Helm release (one `helm list`), when helm is on PATH."""
    if not any(s.release for s in summaries):
        return summaries
    helm = Helm.find(connection_of(common))
    try:
        found = helm.revisions(None if all_namespaces else inv.namespace) if helm else {}
    except CanaryError as err:
        inv.store.warnings.append(str(err))
        found = {}
    if helm is None:
        inv.store.warnings.append("helm is not on PATH: the revisions of Helm releases are not shown")
    return [dataclasses.replace(s, revision=found.get((s.namespace, s.release))) if s.release else s
            for s in summaries]
