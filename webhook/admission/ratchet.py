"""Ratcheting, as Kubernetes does for CRD validation: an UPDATE is judged on what it changes.

A problem that the checks find in an UPDATE's new object and also in its `oldObject` (judged as if it
were created now, against the cluster as it is now) was there before the UPDATE: it does not deny, it
is reported as a warning. So a RouteTable that predates the webhook or a policy still takes Gloo's
status writes, relabels and fixes to other routes, while anything the UPDATE makes worse is denied.
Problems are matched by reason and message; messages name the route, the destination and the values,
so changing a broken route (its weights, its destination) or adding one is judged in full.

The old object is judged only when the new one has a denying problem, so an ordinary UPDATE costs
nothing more. A problem that is not about the object (an unreadable CanaryPolicy) is never ratcheted.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Final

from webhook.admission.decision import Check, Context, Problem

PREFIX: Final = "not enforced (already there before this update): "
# Problems about something other than the object, which an old object "having" says nothing about.
NOT_RATCHETED: Final = frozenset({"policy-unreadable", "too-deep"})


def as_created(ctx: Context) -> Context | None:
    """The UPDATE's old object as a CREATE of it now would be judged, or None when `ctx` is no UPDATE."""
    old = ctx.review.old
    if ctx.operation != "UPDATE" or not ctx.is_routetable_write or not isinstance(old, dict):
        return None
    return Context(replace(ctx.review, operation="CREATE", obj=old, old=None), ctx.lookup, ctx.settings)


def ratcheted(ctx: Context, problems: Sequence[Problem], checks: Collection[Check]) -> list[Problem]:
    """`problems` of `ctx` with each denying one that the old object already had turned into a warning."""
    if not any(p.deny and p.reason not in NOT_RATCHETED for p in problems):
        return list(problems)
    before = as_created(ctx)
    if before is None:
        return list(problems)
    known = {(p.reason, p.message) for check in checks for p in check(before)}
    return [
        p.as_warning(PREFIX) if p.deny and p.reason not in NOT_RATCHETED and (p.reason, p.message) in known else p
        for p in problems
    ]
