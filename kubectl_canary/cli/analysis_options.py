"""The flags of `shift --step` (progressive shift with analysis), and what they turn into."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_canary.core import names
from kubectl_canary.core.errors import UsageError
from kubectl_canary.core.routes import RouteState, first_prefix, recognise
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.core.verdict import parse_duration, parse_latency
from kubectl_canary.load import Load
from kubectl_canary.store.proxies import Gateway


class Seconds(click.ParamType[float, Any]):
    """A Go-style duration (`15s`, `1m`, `500ms`) in seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            what = f"--{param.name.replace('_', '-')}" if param and param.name else "duration"
            return parse_duration(str(value), what)
        except UsageError as err:
            self.fail(str(err).removeprefix("invalid "), param, ctx)


class Latency(click.ParamType[tuple[str, float], Any]):
    """`p99=500ms`."""

    name = "quantile=duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_latency(str(value))
        except UsageError as err:
            self.fail(str(err).removeprefix("invalid "), param, ctx)


OPTIONS = [
    click.option("--step", type=click.IntRange(1, 100), metavar="POINTS",
                 help="Move to --weight in steps of this many points, judging the canary before each next step "
                      "(never more than a CanaryPolicy's maxWeightStep)."),
    click.option("--interval", type=Seconds(), metavar="DURATION",
                 help="Analysis window per step (default: the policy's analysis.interval, else 1m)."),
    click.option("--finish", is_flag=True,
                 help="With --step: at --weight 100 and healthy, make the canary the primary."),
    click.option("--max-error-rate", type=click.FloatRange(0, 100), metavar="PERCENT",
                 help="Largest canary error rate (5xx and connection failures as the gateway saw them; default 1)."),
    click.option("--error-rate-margin", type=click.FloatRange(0, 100), metavar="POINTS",
                 help="Largest excess of the canary's error rate over the primary's (default 1)."),
    click.option("--min-requests", type=click.IntRange(min=0),
                 help="Fewer canary requests in a window: inconclusive, never healthy (default 20)."),
    click.option("--max-latency", type=Latency(), multiple=True, metavar="Q=DURATION",
                 help="Largest canary latency, e.g. p99=500ms (repeatable; needs --load)."),
    click.option("--latency-ratio", type=click.FloatRange(min=1), metavar="RATIO",
                 help="Largest canary p99 over the primary's (needs --load)."),
    click.option("--on-inconclusive", type=click.Choice(["pause", "abort"]),
                 help="What a step that stays inconclusive does: pause (exit 2, weight kept; default) or abort."),
    click.option("--max-inconclusive", type=click.IntRange(min=0),
                 help="Windows to extend an inconclusive step by before --on-inconclusive (default 2)."),
    click.option("--load", "load_rate", type=click.FloatRange(min=0, min_open=True), metavar="RATE",
                 help="Send RATE synthetic requests a second through --gateway-url while judging (a quarter with "
                      "the canary's header, timed: the source of per-version latency)."),
    click.option("--gateway-url", metavar="URL", help="The gateway's address for --load, e.g. http://1.2.3.4."),
    click.option("--load-path", metavar="PATH", help="Path of the synthetic requests (default: the route prefix)."),
    click.option("--load-host", metavar="HOST", help="Host header of the synthetic requests."),
    click.option("--load-header", "load_headers", multiple=True, metavar="NAME=VALUE",
                 help="Extra header on the synthetic requests (repeatable)."),
    click.option("--gateway-namespace", default="gloo-system", show_default=True,
                 help="Namespace of the gateway-proxy pods."),
    click.option("--gateway-selector", default="gloo=gateway-proxy", show_default=True,
                 help="Label selector of the gateway-proxy pods."),
    click.option("--gateway-admin-port", type=click.IntRange(1, 65535), default=8082, show_default=True,
                 help="The gateway-proxy's read-only Envoy admin port (Gloo's readConfig listener)."),
    click.option("--route-timeout", type=Seconds(), default=60.0, show_default=True, metavar="DURATION",
                 help="How long a step may take to reach every gateway-proxy pod."),
]


def analysis_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        command = option(command)
    return command


# The parameter names of OPTIONS, in order.
NAMES = ("step", "interval", "finish", "max_error_rate", "error_rate_margin", "min_requests", "max_latency",
         "latency_ratio", "on_inconclusive", "max_inconclusive", "load_rate", "gateway_url", "load_path", "load_host",
         "load_headers", "gateway_namespace", "gateway_selector", "gateway_admin_port", "route_timeout")
PROGRESSIVE_ONLY = ("interval", "finish", "max_error_rate", "error_rate_margin", "min_requests", "max_latency",
                    "latency_ratio", "on_inconclusive", "max_inconclusive", "load_rate")


def split_flags(common: dict[str, Any]) -> dict[str, Any]:
    """Take the analysis flags out of `common` (the rest are the common flags); UsageError for one given
    without --step."""
    mine = {name: common.pop(name) for name in NAMES}
    if mine["step"] is None:
        given = [n for n in PROGRESSIVE_ONLY if mine[n] not in (None, False, ())]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} judges a progressive shift: add --step POINTS")
    if mine["load_rate"] is not None and not mine["gateway_url"]:
        raise UsageError("--load sends requests through the gateway: add --gateway-url URL (its address as "
                         "this machine reaches it, e.g. a LoadBalancer or a `kubectl port-forward` port)")
    mine["gateway"] = Gateway(mine.pop("gateway_namespace"), mine.pop("gateway_selector"),
                              mine.pop("gateway_admin_port"))
    return mine


def load_factory(flags: dict[str, Any], send: Any = None) -> Callable[[RouteState, Snapshot], Load] | None:
    """How to make the synthetic load once the service's routes are known (None without --load)."""
    if flags["load_rate"] is None:
        return None
    headers = tuple(names.parse_header(h) for h in flags["load_headers"])

    def make(state: RouteState, snap: Snapshot) -> Load:
        if not state.headers:
            raise UsageError(f"the canary of service {snap.service} has no header route: --load times the "
                             "canary through it; start the canary with --header")
        path = flags["load_path"]
        if path is None and snap.routetable is not None:
            path = first_prefix(snap.routetable, recognise(snap.routetable, snap.service, snap.upstream))
        url = str(flags["gateway_url"]).rstrip("/") + (path or "/")
        extra = {"send": send} if send is not None else {}
        return Load(url, flags["load_rate"], headers, state.headers[0], flags["load_host"], **extra)

    return make
