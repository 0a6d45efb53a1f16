"""`shift --step`: move the canary's weight in steps, judging each window before the next step.

What was asked is a `Progression` (`cli.progression`). Each step is an ordinary `shift` (the same plan,
the same readiness rule), then a wait until every gateway-proxy pod routes by it (`core.inforce`), then
windows of --interval: the gateway's per-host counters before and after (`store.proxies`,
`core.hoststats`), judged by `core.verdict`. A healthy window lets the next step go; a failed one aborts
at once (all traffic to the primary, the canary's Deployment kept), exit 1; an inconclusive one extends
the window, up to --max-inconclusive more, then pauses (exit 2, the weight stays) or aborts. Each
verdict is printed with its numbers and recorded on the RouteTable (`kubectl-canary.io/analysis`), which
`status` shows. Interrupted (Ctrl-C, SIGTERM, an unreachable API server), the routes stay at the last
step applied and the command says so; the same command resumes from there (a weight above 0 is judged
before it moves).
"""

from __future__ import annotations

import datetime
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import click

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.group import apply_plan
from kubectl_canary.cli.options import Invocation
from kubectl_canary.cli.output import note
from kubectl_canary.cli.progression import Progression, gates_of, settle
from kubectl_canary.core import names
from kubectl_canary.core.analysis_policy import ABORT, merged
from kubectl_canary.core.errors import CanaryError, StateConflict, UsageError
from kubectl_canary.core.hoststats import HostStats, cluster_name, per_version, window
from kubectl_canary.core.kinds import ROUTETABLE, Obj
from kubectl_canary.core.plan import Plan, plan_abort, plan_finish, plan_shift
from kubectl_canary.core.routes import RouteState, recognise
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.core.verdict import FAILED, HEALTHY, Numbers, Verdict, judge, record
from kubectl_canary.load import CANARY, PLAIN, Load
from kubectl_canary.store import read_governing, read_snapshot
from kubectl_canary.store.proxies import read_counts, service_versions, shares

PAUSED_EXIT = 2
# How often the wait for a step's routes reads the proxies' route configuration.
IN_FORCE_POLL = 1.0


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so both leave the routes the same way."""
    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signum)

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread (a test runner's): Ctrl-C only
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _with_annotation(plan: Plan, text: str) -> Plan:
    """`plan` with the verdict recorded on its RouteTable write."""
    def annotated(obj: Obj) -> Obj:
        if obj.get("kind") != ROUTETABLE.kind:
            return obj
        meta = dict(obj.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), names.ANALYSIS: text}
        return {**obj, "metadata": meta}

    return replace(plan, writes=tuple(annotated(o) for o in plan.writes))


class Run:
    """One `shift --step` run against a service."""

    def __init__(self, inv: Invocation, service: str, routetable: str | None, prog: Progression, force: bool):
        self.inv, self.service, self.routetable, self.prog = inv, service, routetable, prog
        self.require_ready = inv.store.live and not force
        self.env = click.get_current_context().find_object(Env) or Env()
        self.applied: int | None = None
        self.load: Load | None = None
        self.baseline: list[float] = []

    def snapshot(self) -> Snapshot:
        return read_snapshot(self.inv.store, self.inv.namespace, self.service, self.routetable)

    def state(self, snap: Snapshot) -> RouteState:
        if snap.routetable is None:
            raise snap.not_found()
        state = recognise(snap.routetable, snap.service, snap.upstream).state
        if state.canary is None:
            raise StateConflict(f"no canary in progress for service {self.service} in namespace "
                                f"{self.inv.namespace}; start one with `kubectl canary start {self.service} "
                                "--version V`")
        return state

    def shift_to(self, weight: int, verdict: str | None) -> None:
        def planner(snap: Snapshot) -> Plan:
            plan = plan_shift(snap, weight, self.require_ready)
            return _with_annotation(plan, verdict) if verdict else plan

        apply_plan(self.inv, self.service, self.routetable, planner)
        self.applied = weight

    def wait_in_force(self, cluster: str, canary: str, weight: int) -> None:
        """Until every gateway-proxy pod's weighted routes on `cluster` give the canary `weight` percent."""
        started = self.env.clock()
        while True:
            seen = shares(self.inv.store, self.prog.gateway, cluster, canary)
            late = {pod: s for pod, s in seen.items() if not s or any(abs(x - weight) >= 0.5 for x in s)}
            if not late:
                note(f"routes at weight {weight} in force on {len(seen)} gateway-proxy pod(s)")
                return
            if self.env.clock() - started >= self.prog.route_timeout:
                pods = ", ".join(f"{p} (canary share {'/'.join(f'{x:g}' for x in s) or 'no route'})"
                                 for p, s in late.items())
                raise StateConflict(f"the gateway does not route by weight {weight} after "
                                    f"{self.prog.route_timeout:g}s: {pods}; see `kubectl canary status "
                                    f"{self.service}` for Gloo's verdict on the RouteTable")
            self.env.sleep(IN_FORCE_POLL)

    def judge_step(self, snap: Snapshot, state: RouteState, weight: int) -> Verdict:
        """Windows at `weight` until one is conclusive or --max-inconclusive more have passed."""
        assert state.canary is not None
        cluster = cluster_name(snap.upstream.name, snap.upstream.namespace)
        before = read_counts(self.inv.store, self.prog.gateway, cluster)
        started = self.env.clock()
        timed: list[float] = []
        verdict: Verdict | None = None
        for extension in range(self.prog.max_inconclusive + 1):
            self.env.sleep(self.prog.interval)
            after = read_counts(self.inv.store, self.prog.gateway, cluster)
            counts = per_version(window(before, after), service_versions(self.inv.store, snap))
            if self.load is not None:
                taken = self.load.take()
                timed += taken[CANARY].durations
                note(f"load: {taken[PLAIN].describe()} without the header, {taken[CANARY].describe()} with it")
            canary = Numbers.of(counts.get(state.canary, HostStats()), timed)
            primary = Numbers.of(counts.get(state.primary, HostStats()), self.baseline)
            verdict = judge(self.prog.gates, canary, primary)
            seconds = self.env.clock() - started
            line = verdict.describe(state.canary, state.primary)
            click.echo(f"window at weight {weight}% ({seconds:.0f}s"
                       + (f", extended {extension}x" if extension else "") + f"): {line}")
            if verdict.outcome != "inconclusive":
                break
        assert verdict is not None
        return verdict

    def record_text(self, verdict: Verdict, state: RouteState, weight: int) -> str:
        at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return record(verdict, state.canary or "", state.primary, weight, self.prog.interval, at)

    def measure_baseline(self, state: RouteState) -> None:
        """At weight 0, the plain stream reaches the primary alone: its timings are the primary's latency."""
        if self.load is None or not self.prog.gates.latency_ratio:
            return
        self.load.take()
        self.env.sleep(self.prog.interval)
        self.baseline = self.load.take()[PLAIN].durations
        mix = "" if state.weight == 0 else f" (the mix of both at weight {state.weight}: a lower bound)"
        note(f"primary {state.primary} latency baseline: {len(self.baseline)} requests timed{mix}")

    def run(self) -> None:
        snap = self.snapshot()
        state = self.state(snap)
        assert state.canary is not None
        self.applied = weight = state.weight
        cluster = cluster_name(snap.upstream.name, snap.upstream.namespace)
        if self.prog.load is not None:
            self.load = self.prog.load(state, snap)
            self.load.start()
        try:
            self.measure_baseline(state)
            text: str | None = None
            while True:
                if weight > 0:
                    verdict = self.judge_step(snap, state, weight)
                    text = self.record_text(verdict, state, weight)
                    if verdict.outcome == FAILED:
                        return self.abort(text, f"canary {state.canary} failed at weight {weight}%")
                    if verdict.outcome != HEALTHY:
                        return self.inconclusive(text, weight, state)
                if weight >= self.prog.target:
                    break
                weight = min(self.prog.target, weight + self.prog.step)
                click.echo(f"step: weight {self.applied}% -> {weight}%")
                self.shift_to(weight, text)
                self.wait_in_force(cluster, state.canary, weight)
                snap = self.snapshot()
            if self.prog.finish:
                apply_plan(self.inv, self.service, self.routetable,
                           lambda s: _with_annotation(plan_finish(s), text) if text else plan_finish(s))
            elif text:
                self.shift_to(weight, text)
            click.echo(f"canary {state.canary} reached weight {weight}%" + (" and is now the primary"
                                                                            if self.prog.finish else ""))
            return None
        except KeyboardInterrupt as stop:
            signum = stop.args[0] if stop.args and isinstance(stop.args[0], int) else signal.SIGINT
            note(f"interrupted: the routes stay at weight {self.weight_now()}% (the last step applied); run the "
                 "same command again to resume from there")
            click.get_current_context().exit(128 + int(signum))
        except CanaryError as err:
            raise type(err)(f"{err} (the routes stay at weight {self.applied}%, the last step applied; run the "
                            "same command again to resume)") from err
        finally:
            if self.load is not None:
                self.load.stop()
                totals = self.load.totals()
                note(f"load in all: {totals[PLAIN].describe()} without the header, {totals[CANARY].describe()} "
                     "with it")

    def weight_now(self) -> int | None:
        """The weight the routes have now (a step interrupted mid-write may or may not have landed)."""
        try:
            return self.state(self.snapshot()).weight
        except CanaryError:
            return self.applied

    def abort(self, text: str, why: str) -> None:
        apply_plan(self.inv, self.service, self.routetable, lambda s: _with_annotation(plan_abort(s), text))
        self.applied = 0
        click.echo(f"aborted: {why}; all traffic is back on the primary, the canary's Deployment is kept")
        click.get_current_context().exit(1)

    def inconclusive(self, text: str, weight: int, state: RouteState) -> None:
        windows = self.prog.max_inconclusive + 1
        if self.prog.on_inconclusive == ABORT.lower():
            return self.abort(text, f"canary {state.canary} stayed inconclusive for {windows} window(s)")
        self.shift_to(weight, text)
        click.echo(f"paused at weight {weight}%: {windows} window(s) inconclusive; send traffic (or use --load) "
                   "and run the same command again to resume")
        click.get_current_context().exit(PAUSED_EXIT)


def run_progressive(inv: Invocation, service: str, routetable: str | None, force: bool, flags: dict[str, Any],
                    make_load: Callable[[RouteState, Snapshot], Load] | None) -> None:
    """`shift --step`: resolve the policy's defaults, then run the steps."""
    if inv.dry_run != "none":
        raise UsageError("--step moves traffic and judges what the gateway saw: it cannot be a dry run "
                         "(drop --dry-run, or shift by one --weight without --step)")
    if not inv.store.live:
        raise UsageError("--step reads what the gateway saw: it needs a cluster, not --files")
    try:
        policies = read_governing(inv.store, inv.namespace)
    except CanaryError as err:
        inv.store.warnings.append(f"cannot read the CanaryPolicies of namespace {inv.namespace}: {err}")
        policies = ()
    defaults = merged(p.analysis for p in policies)
    steps = [p.max_weight_step for p in policies if p.max_weight_step is not None]
    step, said = settle(flags, defaults, min(steps) if steps else None)
    for line in said:
        note(line)
    gates = gates_of(flags, defaults)
    if gates.needs_latency and make_load is None:
        raise UsageError("a latency gate (--max-latency, --latency-ratio) needs timed requests: add --load RATE "
                         "with --gateway-url (the gateway keeps no per-version latency)")
    interval = flags["interval"] if flags["interval"] is not None else defaults.interval or 60.0
    on = flags["on_inconclusive"] or (defaults.on_inconclusive or "Pause").lower()
    extra = flags["max_inconclusive"]
    extra = extra if extra is not None else defaults.max_inconclusive if defaults.max_inconclusive is not None else 2
    prog = Progression(flags["weight"], step, interval, gates, extra, on, flags["finish"], flags["gateway"],
                       flags["route_timeout"], make_load)
    with _terminated_as_interrupt():
        Run(inv, service, routetable, prog, force).run()
