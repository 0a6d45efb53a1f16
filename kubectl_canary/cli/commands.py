"""The `kubectl canary` commands but `adopt` (`cli.adoption`): parse flags, plan, execute, print.

See `cli.group` for the steps every mutating command shares.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from kubectl_canary.cli.analysis_options import analysis_options, load_factory, split_flags
from kubectl_canary.cli.env import Env
from kubectl_canary.cli.group import apply_plan, checked, cli, drain_option, routetable_option
from kubectl_canary.cli.helm_mode import (
    chart_option,
    install,
    release_lines,
    release_status,
    through_helm,
    with_revisions,
)
from kubectl_canary.cli.options import Invocation, common_options, complete_services, invocation
from kubectl_canary.cli.output import flush_warnings, note, render
from kubectl_canary.cli.progressive import run_progressive
from kubectl_canary.cli.values_mode import run_values, show_status, take_values
from kubectl_canary.core import names
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.datapath import unreadable
from kubectl_canary.core.deployments import init_workload, readiness
from kubectl_canary.core.errors import CanaryError, ClusterError, StateConflict, UsageError
from kubectl_canary.core.kinds import ROUTETABLE, annotations_of
from kubectl_canary.core.plan import plan_abort, plan_finish, plan_init, plan_shift, plan_start
from kubectl_canary.core.policy import Policy
from kubectl_canary.core.status import render_table, status_of
from kubectl_canary.core.summary import render_list, summary_of
from kubectl_canary.core.values import values_abort, values_finish, values_init, values_shift, values_start
from kubectl_canary.store import read_governing, read_snapshot
from kubectl_canary.store.gateway import read_observed

# How long `start` waits for a ready canary pod on a cluster, and how often it looks.
READY_TIMEOUT = 120.0
READY_POLL = 1.0


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--version", "version", required=True, help="The version to run, e.g. v1 (Deployment S-V).")
@click.option("--image", help=f"Container image (default: the existing Deployment's, else {names.DEFAULT_IMAGE}).")
@click.option("--port", type=click.IntRange(1, 65535),
              help=f"Container port (default: the existing Deployment's, else {names.CONTAINER_PORT}).")
@click.option("--replicas", type=click.IntRange(min=0), help="Replicas (default: the existing Deployment's, else 1).")
@click.option("--api-group", help="apiGroup label of the RouteTable (default: set by the webhook).")
@click.option("--prefix", help="Route prefix (default: /SERVICE).")
@click.option("--helm", "helm", is_flag=True, help="Install the gloo-app chart as Helm release SERVICE instead.")
@chart_option
@common_options(writes=True)
def init(service: str, version: str, image: str | None, port: int | None, replicas: int | None, api_group: str | None,
         prefix: str | None, helm: bool, chart: str | None, **common: Any) -> None:
    """Create SERVICE at --version: Service, Deployment, Upstream and RouteTable (phase stable)."""
    checked(service, version, api_group)
    if prefix is not None and not prefix.startswith("/"):
        raise UsageError(f"invalid --prefix {prefix!r}: a route prefix starts with '/', e.g. /{service}")
    if (path := take_values(common)) is not None:
        run_values(path, common, lambda values, where: values_init(
            values, service, version, api_group, prefix, image, replicas, where), create=True)
        return
    if helm:
        from kubectl_canary.core.values import apply_edits
        from kubectl_canary.store.values import render as render_values

        values: dict[str, Any] = {}
        apply_edits(values, values_init(values, service, version, api_group, prefix, image, replicas).edits)
        install(invocation(**common), common, service, render_values(values), chart)
        return
    inv = invocation(**common, create=True)
    apply_plan(inv, service, None, lambda snap: plan_init(
        snap, version, init_workload(snap, version, image, port, replicas), api_group, prefix))


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--version", "version", required=True, help="The canary version, e.g. v2.")
@click.option("--image", "images", multiple=True, metavar="[CONTAINER=]IMAGE",
              help="Image of the main container, or of CONTAINER (repeatable, as `kubectl set image`; "
                   "default: the primary's).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE",
              help="Set or replace a variable of the main container (repeatable, as `kubectl set env`).")
@click.option("--container", metavar="NAME",
              help="The main container, when neither its name nor the Deployment's says which it is.")
@click.option("--replicas", type=click.IntRange(min=0), help="The canary's replicas (default: the primary's).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="Header that routes a request to the canary (repeatable; default stage=canary).")
@click.option("--no-route", is_flag=True, help="Only deploy the canary; add no route to it yet.")
@click.option("--timeout", type=click.FloatRange(min=0), default=READY_TIMEOUT, show_default=True, metavar="SECONDS",
              help="On a cluster: how long to wait for a ready canary pod (0: do not wait).")
@routetable_option
@chart_option
@common_options(writes=True)
def start(service: str, version: str, images: tuple[str, ...], env: tuple[str, ...], container: str | None,
          replicas: int | None, headers: tuple[str, ...], no_route: bool, timeout: float, routetable: str | None,
          chart: str | None, **common: Any) -> None:
    """Deploy --version as the canary, a copy of the primary's Deployment, and route header-matched requests
    to it (phase header).

    On a cluster it then waits, as `kubectl rollout status` does, until a canary pod is ready, and exits 1
    naming what is not when none is within --timeout: until then header-matched requests go to the other
    versions (Gloo's subset fallback), and `shift` gives the canary no weighted traffic.
    """
    checked(service, version)
    changes = Changes.parse(images, env, replicas, container)
    parsed = tuple(names.parse_header(h) for h in headers) or None
    if parsed is not None and len({n for n, _ in parsed}) != len(parsed):
        raise UsageError(f"--header names a header twice: {', '.join(f'{n}={v}' for n, v in parsed)}")
    if (path := take_values(common)) is not None:
        run_values(path, common, lambda values, where: values_start(
            values, service, version, changes, parsed, no_route, where))
        return
    inv = invocation(**common)
    if through_helm(inv, common, service, routetable, lambda values, where: values_start(
            values, service, version, changes, parsed, no_route, where), chart=chart):
        return
    apply_plan(inv, service, routetable, lambda snap: plan_start(snap, version, changes, parsed, no_route),
               autoscalers=True)
    if inv.store.live and inv.dry_run == "none" and timeout > 0:
        _wait_ready(inv, service, version, routetable, timeout)


def _wait_ready(inv: Invocation, service: str, version: str, routetable: str | None, timeout: float) -> None:
    """Until the canary Deployment reports a ready pod (StateConflict after `timeout` seconds)."""
    env = click.get_current_context().find_object(Env) or Env()
    deadline, said = env.clock() + timeout, ""
    while True:
        deployment = read_snapshot(inv.store, inv.namespace, service, routetable).deployment(version)
        ready, desired = readiness(deployment) if deployment is not None else (0, 1)
        if ready > 0 or desired == 0:
            return
        line = f"waiting for canary {version}: {ready} of {desired} pods ready"
        if line != said:
            note(line)
            said = line
        if env.clock() >= deadline:
            raise StateConflict(
                f"canary {version} of service {service} in namespace {inv.namespace} has 0 of {desired} pods ready "
                f"after {timeout:g}s: header-matched requests go to the other versions until one is, and `shift` "
                f"gives it no weighted traffic; see why with `kubectl canary status {service}` and "
                f"`kubectl describe pods -n {inv.namespace} -l version={version}`")
        env.sleep(READY_POLL)


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--weight", type=click.IntRange(0, 100), required=True,
              help="The canary's share (0..100) of the requests without the header.")
@click.option("--force", is_flag=True, help="Shift even to a canary that has no ready pod.")
@analysis_options
@routetable_option
@chart_option
@common_options(writes=True)
def shift(service: str, weight: int, force: bool, routetable: str | None, chart: str | None, **common: Any) -> None:
    """Send --weight percent of the traffic to the canary (phase weighted; 0 returns to phase header).

    On a cluster, a canary without a ready pod gets no weighted traffic unless --force.

    With --step, move there in steps, and before each next step judge the window since the last one,
    canary against primary, from what the gateway-proxy pods counted (read through the API server's
    pods/proxy): healthy goes on, failed aborts (exit 1), too few requests is inconclusive and extends
    the window, then pauses (exit 2) or aborts. Interrupted, the routes stay at the last step applied;
    the same command resumes.
    """
    checked(service)
    flags = split_flags(common)
    if (path := take_values(common)) is not None:
        if flags["step"] is not None:
            raise UsageError("--step judges what the gateway counts on a cluster; a --values file is applied "
                             "later by someone else, so shift it to the target weight alone")
        run_values(path, common, lambda values, where: values_shift(values, service, weight, where))
        return
    inv = invocation(**common)
    if flags["step"] is not None:
        # Progressive steps write the RouteTable; a Helm release's is refused naming the release.
        env = click.get_current_context().find_object(Env) or Env()
        run_progressive(inv, service, routetable, force, {**flags, "weight": weight},
                        load_factory(flags, env.http_send))
        return
    if through_helm(inv, common, service, routetable,
                    lambda values, where: values_shift(values, service, weight, where), chart=chart):
        return
    require_ready = inv.store.live and not force
    apply_plan(inv, service, routetable, lambda snap: plan_shift(snap, weight, require_ready))


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--keep-old", is_flag=True, help="Keep the old primary's Deployment (without traffic).")
@drain_option
@routetable_option
@chart_option
@common_options(writes=True)
def finish(service: str, keep_old: bool, drain_delay: float, routetable: str | None, chart: str | None,
           **common: Any) -> None:
    """Make the canary the primary (all traffic), then delete the old primary's Deployment."""
    checked(service)
    if (path := take_values(common)) is not None:
        run_values(path, common, lambda values, where: values_finish(values, service, keep_old, where))
        return
    inv = invocation(**common)
    if through_helm(inv, common, service, routetable,
                    lambda values, where: values_finish(values, service, keep_old, where), drain_delay, chart):
        return
    apply_plan(inv, service, routetable, lambda snap: plan_finish(snap, keep_old), drain_delay, autoscalers=True)


@cli.command()
@click.argument("service", shell_complete=complete_services)
@click.option("--delete-canary", is_flag=True, help="Also delete the canary's Deployment.")
@drain_option
@routetable_option
@chart_option
@common_options(writes=True)
def abort(service: str, delete_canary: bool, drain_delay: float, routetable: str | None, chart: str | None,
          **common: Any) -> None:
    """Send all traffic back to the primary; keep the canary's Deployment unless --delete-canary."""
    checked(service)
    if (path := take_values(common)) is not None:
        run_values(path, common, lambda values, where: values_abort(values, service, delete_canary, where))
        return
    inv = invocation(**common)
    if through_helm(inv, common, service, routetable,
                    lambda values, where: values_abort(values, service, delete_canary, where), drain_delay, chart):
        return
    apply_plan(inv, service, routetable, lambda snap: plan_abort(snap, delete_canary), drain_delay,
               autoscalers=True)


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
