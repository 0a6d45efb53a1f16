"""The `kubectl canary` commands that write (init, start, shift, finish, abort): parse flags, plan,
execute, print. `adopt` is `cli.adoption`; `status` and `list`, which only read, are `cli.inspection`.

See `cli.group` for the steps every mutating command shares.
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_canary.cli.analysis_options import analysis_options, load_factory, split_flags
from kubectl_canary.cli.env import Env
from kubectl_canary.cli.group import apply_plan, checked, cli, drain_option, routetable_option
from kubectl_canary.cli.helm_mode import chart_option, install, through_helm
from kubectl_canary.cli.options import Invocation, common_options, complete_services, invocation
from kubectl_canary.cli.output import note
from kubectl_canary.cli.progressive import run_progressive
from kubectl_canary.cli.values_mode import run_values, take_values
from kubectl_canary.core import names
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.deployments import init_workload, readiness
from kubectl_canary.core.errors import StateConflict, UsageError
from kubectl_canary.core.plan import plan_abort, plan_finish, plan_init, plan_shift, plan_start
from kubectl_canary.core.values_plan import values_abort, values_finish, values_init, values_shift, values_start
from kubectl_canary.store import read_snapshot

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
    require_ready = inv.store.live and not force
    # A release's upgrade is refused as the objects' plan would be: no weighted traffic to a canary with no
    # ready pod (Helm would also apply the routes first, then wait out its --timeout on that pod).
    if through_helm(inv, common, service, routetable,
                    lambda values, where: values_shift(values, service, weight, where), chart=chart,
                    check=lambda snap: plan_shift(snap, weight, require_ready)):
        return
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
