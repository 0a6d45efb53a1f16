"""Platform policy in the webhook: a check per CanaryPolicy field and the policy's apiGroup source for
mutation (registered by field name in `webhook.admission.rules`).

The policies come from the Lookup (a watch cache in the cluster, so a change takes effect without a
restart); which ones govern a RouteTable depends on its Namespace's labels. The governing policies are
merged per enforcement (`kubectl_canary.core.effective.levels`): within Enforce, Warn and Audit the
strictest value of each field applies, and every problem names the policy (or policies) imposing the
value it breaks and carries that policy's enforcement. An Enforce problem denies, a Warn problem is a
warning, and an Audit problem is only recorded (`PolicyProblem.recorded_only`: validation keeps it out
of the response; the app logs it and counts it in `canary_webhook_policy_violations_total`).

Policy judges RouteTable CREATEs and the UPDATEs that change routing (the spec, or the `apiGroup`
label, which picks the VirtualService); a status or annotation write is not a release step. A policy
object that cannot be read is a denial naming it: a rule that silently stopped applying would be worse.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.effective import Effective
from kubectl_canary.core.kinds import CANARY_POLICY, labels_of
from kubectl_canary.core.policy import (
    API_GROUP,
    AUDIT,
    CROSS_NAMESPACE,
    ENFORCE,
    MAX_WEIGHT_STEP,
    PREFIXES,
    REQUIRE_HEADER_PHASE,
)
from kubectl_canary.core.reach import Reference, outside
from kubectl_canary.core.traffic import Routing, points, steps_over, unphased
from webhook.admission import mutation
from webhook.admission.decision import Context, Problem
from webhook.admission.lookup import find_upstream, namespace_of, pods_namespace


@dataclass(frozen=True)
class PolicyProblem(Problem):
    """A problem with a CanaryPolicy rule: which policies impose it, the field, and their enforcement."""

    policies: tuple[str, ...] = ()
    field: str = ""
    enforcement: str = ENFORCE

    @property
    def recorded_only(self) -> bool:  # overrides Problem's: Audit is recorded, never shown nor denying
        return self.enforcement == AUDIT

    def violation(self) -> dict[str, Any]:
        """The problem as the request's log line lists it."""
        return {"policies": list(self.policies), "field": self.field, "enforcement": self.enforcement,
                "message": self.message}


def _who(policies: Sequence[str]) -> str:
    return ("policy " if len(policies) == 1 else "policies ") + ", ".join(policies)


def _problem(level: Effective, policies: Sequence[str], field: str, text: str) -> PolicyProblem:
    return PolicyProblem(
        f"policy-{field}", f"{_who(policies)}: {text}", deny=level.enforcement == ENFORCE,
        policies=tuple(policies), field=field, enforcement=level.enforcement,
    )


def _judged(ctx: Context) -> bool:
    return ctx.is_routetable_write and ctx.review.obj is not None and not ctx.routing_unchanged


def _in_range(rt: Routing | None) -> bool:
    """Whether every weight is one Gloo takes (a uint32): the traffic shares are computed in floats, and
    a weight of 4,300 digits overflows them. The floor's check denies the others (`weights-range`)."""
    return rt is not None and all(
        w is None or 0 <= w <= mutation.MAX_WEIGHT for route in rt.weighted for w in route.weights)


def _subjects(ctx: Context) -> Iterator[tuple[Effective, Routing, Routing | None]]:
    """(merged policies of one enforcement, new RouteTable, old RouteTable or None) for a judged request."""
    if not _judged(ctx) or not ctx.policy_levels or not _in_range(ctx.new) or ctx.new is None:
        return
    old = ctx.old if _in_range(ctx.old) else None
    for level in ctx.policy_levels:
        yield level, ctx.new, old


# -- the checks, one per field ------------------------------------------------------------------


def check_readable(ctx: Context) -> Iterator[Problem]:
    """A CanaryPolicy that cannot be read denies every judged RouteTable write, naming it."""
    if not _judged(ctx):
        return
    for bad in ctx.policies[1]:
        yield Problem(
            "policy-unreadable",
            f"{CANARY_POLICY.kind} {bad.name or '(unnamed)'} cannot be applied: {bad.error}; "
            "RouteTable writes are refused until the platform team fixes it",
        )


def check_api_group(ctx: Context) -> Iterator[Problem]:
    """`apiGroup`: the RouteTable carries the policy's group (conflicting policies: nothing can)."""
    for level, rt, _old in _subjects(ctx):
        if len(level.api_groups) > 1:
            every = sorted(n for g in level.api_groups for n in g.policies)
            which = "; ".join(f"{', '.join(g.policies)}: {g.value}" for g in level.api_groups)
            yield _problem(level, every, API_GROUP,
                           f"they require different apiGroups for namespace {level.namespace} ({which}), so no "
                           "RouteTable there can be admitted; ask the platform team to reconcile them")
        elif level.api_groups:
            (group,) = level.api_groups
            label = labels_of(rt.obj).get(names.API_GROUP)
            if label != group.value:
                found = f"label {names.API_GROUP}={label} is" if label else f"no {names.API_GROUP} label is"
                yield _problem(level, group.policies, API_GROUP,
                               f"{found} not allowed in namespace {level.namespace}; its RouteTables must carry "
                               f"{names.API_GROUP}={group.value}")


def check_max_weight_step(ctx: Context) -> Iterator[Problem]:
    """`maxWeightStep`: on UPDATE, no version's share of a route's non-header traffic moves further."""
    for level, rt, old in _subjects(ctx):
        if level.max_weight_step is None or old is None:
            continue
        limit = level.max_weight_step.value
        for shift in steps_over(old, rt, limit):
            yield _problem(level, level.max_weight_step.policies, MAX_WEIGHT_STEP,
                           f"route {shift.route}: {shift.target} share {points(shift.before)} -> "
                           f"{points(shift.after)} changes by {points(shift.change)} points, over {MAX_WEIGHT_STEP} "
                           f"{limit}; shift in steps of at most {limit} first, or ask the platform team")


def check_header_phase(ctx: Context) -> Iterator[Problem]:
    """`requireHeaderPhase`: a version gets non-header traffic only after a header-matched route to it."""
    for level, rt, old in _subjects(ctx):
        if level.require_header_phase is None:
            continue
        for found in unphased(old, rt):
            yield _problem(level, level.require_header_phase.policies, REQUIRE_HEADER_PHASE,
                           f"route {found.route}: {found.target} gets {points(found.share)}% of the traffic without a "
                           "header-matched phase first; route header-matched requests to it first "
                           "(kubectl canary start), then shift")


def check_prefixes(ctx: Context) -> Iterator[Problem]:
    """`prefixes`: every path a route matches lies under an allowed prefix of every policy."""
    for level, rt, _old in _subjects(ctx):
        for allowed in level.prefixes:
            shown = ", ".join(allowed.value) or "none"
            for claim in rt.claims:
                if not outside(claim, allowed.value):
                    continue
                text = (f"route {claim.route}: a regex matcher cannot be proven to stay under the allowed prefixes "
                        f"({shown}); use prefix or exact matchers" if claim.kind == "regex" else
                        f"route {claim.route}: path {claim} is outside the allowed prefixes ({shown})")
                yield _problem(level, allowed.policies, PREFIXES, text)


def _reached(ctx: Context, ref: Reference) -> str:
    """The namespace whose pods a reference sends traffic to: a kube Upstream's service namespace, else
    the namespace of the object named (a missing Upstream is the floor's problem)."""
    if ref.kind != "Upstream":
        return ref.namespace
    upstream = find_upstream(ctx.lookup, ref.namespace, ref.name)
    if upstream is None:
        return ref.namespace
    return pods_namespace(upstream) or namespace_of(upstream)


def check_upstream_namespaces(ctx: Context) -> Iterator[Problem]:
    """`allowCrossNamespaceUpstreams` false: routes reach only services of the RouteTable's own namespace."""
    for level, rt, _old in _subjects(ctx):
        if level.same_namespace_upstreams is None:
            continue
        for ref in rt.references:
            reached = _reached(ctx, ref)
            if reached == level.namespace:
                continue
            via = f" (its service is in namespace {reached})" if reached != ref.namespace else ""
            yield _problem(level, level.same_namespace_upstreams.policies, CROSS_NAMESPACE,
                           f"route {ref.route} -> {ref}{via}: routes in namespace {level.namespace} may only reach "
                           f"services in namespace {level.namespace} ({CROSS_NAMESPACE} is false)")


# -- mutation: the policy's apiGroup --------------------------------------------------------------


def policy_api_group(ctx: Context) -> tuple[str, str] | None:
    """The apiGroup of the strictest governing policies that name one, with where it came from.

    Audit policies inject nothing (they only record); conflicting groups inject nothing from policy
    (validation refuses the RouteTable, naming the policies).
    """
    if not ctx.is_routetable_write:
        return None
    for level in ctx.policy_levels:
        if level.enforcement == AUDIT or len(level.api_groups) > 1:
            return None
        if level.api_groups:
            (group,) = level.api_groups
            return group.value, f"from {CANARY_POLICY.kind} {', '.join(group.policies)}"
    return None
