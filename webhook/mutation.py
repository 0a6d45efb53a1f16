"""Mutation of RouteTables: weights that total 100 and the `apiGroup` label (pure, given a Lookup).

Weights: Gloo treats `multi` weights as relative (a missing one counts as 0), so `1,3` and `25,75`
route alike; the plugin, dashboards and people reason in percent. A `multi` whose weights do not
total 100 is rewritten: when exactly one weight is missing and the others total at most 100, it
gets the rest (the seed's "primary = 100 - canary" rule, for anyone who writes only the canary
weight); otherwise a positive total is scaled to exactly 100 by the largest-remainder method, ties
going to the earlier destination; a total of 0 is left for validation to reject. A route with a
negative weight is left alone too (validation names it).

apiGroup: the label a VirtualService's delegation selector matches. A RouteTable without it gets
its Namespace's `kubectl-canary.io/api-group` label, else `--default-api-group`, else nothing.

Every change is a `Change` whose warning the user sees. The result of mutating is a fixed point:
mutating it again changes nothing (so `reinvocationPolicy: IfNeeded` is safe).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import jsonpatch

from kubectl_canary.core import names
from kubectl_canary.core.kinds import Obj, labels_of
from kubectl_canary.core.routetable import (
    multi_destinations,
    route_action,
    route_label,
    routes,
    weight_of,
)
from webhook.decision import WARN, Change, Context, Mutator, Verdict
from webhook.limits import show_numbers
from webhook.lookup import find_namespace
from webhook.review import short

TOTAL = 100
# Gloo's weights are uint32 (the RouteTable schema's maximum); the mutating webhook sees them unchecked.
MAX_WEIGHT = 2**32 - 1


def largest_remainder(weights: Sequence[int], total: int = TOTAL) -> list[int]:
    """`weights` (non-negative, positive sum) scaled to integers summing to exactly `total`.

    Each gets the floor of its exact share; the units left over go to the largest remainders,
    ties to the earlier position (so 33,33,33 becomes 34,33,33).
    """
    whole = sum(weights)
    floors = [w * total // whole for w in weights]
    remainders = [w * total % whole for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def normalised(weights: Sequence[int | None]) -> tuple[list[int], str] | None:
    """New weights for a `multi` and how they were made (`filled` or `normalised`), or None to leave it
    (no weights, a negative one, or one over Gloo's uint32 maximum: validation names those)."""
    if not weights or any(w is not None and not 0 <= w <= MAX_WEIGHT for w in weights):
        return None
    values = [w or 0 for w in weights]
    total = sum(values)
    if total == TOTAL:
        return None
    missing = [i for i, w in enumerate(weights) if w is None]
    if len(missing) == 1 and total <= TOTAL:
        values[missing[0]] = TOTAL - total
        return values, "filled"
    if total > 0:
        return largest_remainder(values), "normalised"
    return None


def mutate_weights(ctx: Context, rt: Obj) -> list[Change]:
    """Make every `multi` of the RouteTable total 100 (see the module docstring)."""
    # An UPDATE that leaves the routing alone (a status or annotation write) is not a routing change: its
    # routes are neither rewritten nor, by validation, judged. One that changes the apiGroup label (the
    # user's, or the label mutator's just before) is judged, so it is normalised too.
    old_label = labels_of(ctx.review.old or {}).get(names.API_GROUP)
    if not ctx.is_routetable_write or (ctx.spec_unchanged and labels_of(rt).get(names.API_GROUP) == old_label):
        return []
    changes = []
    for route in routes(rt):
        entries = multi_destinations(route)
        multi = route_action(route).get("multi")
        raw = multi.get("destinations") if isinstance(multi, dict) else None
        # Only edit entries that are dicts in the object itself (multi_destinations substitutes {}).
        if not entries or not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            continue
        before = [weight_of(e) for e in entries]
        result = normalised(before)
        if result is None:
            continue
        after, how = result
        for entry, weight in zip(entries, after, strict=True):
            entry["weight"] = weight
        reason = "weights-filled" if how == "filled" else "weights-normalised"
        text = f"route {route_label(route)}: weights {show_numbers(before)} {how} to {show_numbers(after)}"
        changes.append(Change(reason, short(text)))
    return changes


ApiGroupSource = Callable[[Context], tuple[str, str] | None]


def namespace_api_group(ctx: Context) -> tuple[str, str] | None:
    """The RouteTable's Namespace label `kubectl-canary.io/api-group`, with where it came from."""
    if not ctx.namespace:
        return None
    namespace = find_namespace(ctx.lookup, ctx.namespace)
    group = labels_of(namespace).get(names.NAMESPACE_API_GROUP) if namespace else None
    return (str(group), f"from Namespace {ctx.namespace}") if group else None


def default_api_group(ctx: Context) -> tuple[str, str] | None:
    """`--default-api-group`, if given."""
    group = ctx.settings.default_api_group
    return (group, "the webhook's default") if group else None


# Asked in order; the first answer wins. Platform policy adds its source in front of the default.
API_GROUP_SOURCES: tuple[ApiGroupSource, ...] = (namespace_api_group, default_api_group)


def api_group_mutator(sources: Sequence[ApiGroupSource] = API_GROUP_SOURCES) -> Mutator:
    """A mutator that labels a RouteTable without `apiGroup` from the first source with an answer."""

    def mutate_api_group(ctx: Context, rt: Obj) -> list[Change]:
        if not ctx.is_routetable_write or names.API_GROUP in labels_of(rt):
            return []
        for source in sources:
            found = source(ctx)
            if found:
                group, origin = found
                meta = rt.setdefault("metadata", {})
                if not isinstance(meta, dict):  # not an object yet: the API server's schema refuses it
                    return []
                if not isinstance(meta.get("labels"), dict):
                    meta["labels"] = {}
                meta["labels"][names.API_GROUP] = group
                return [Change("api-group", short(f"label {names.API_GROUP}={group} added ({origin})"))]
        return []

    return mutate_api_group


MUTATORS: tuple[Mutator, ...] = (api_group_mutator(), mutate_weights)


def mutate(ctx: Context, mutators: Sequence[Mutator] = MUTATORS) -> Verdict:
    """Run the mutators on a copy of the request's object; the verdict carries the patch and warnings."""
    obj = ctx.review.obj
    if not ctx.is_routetable_write or obj is None:
        return Verdict(allowed=True, decision="allowed")
    deep = ctx.too_deep
    if deep is not None:
        # Not silently admitted unchanged: it would be stored without what validation relies on.
        if ctx.settings.enforcement == WARN:
            return Verdict(allowed=True, decision="warned", warnings=(f"admitted unmutated: {deep.message}",),
                           problems=(deep,))
        return Verdict(allowed=False, decision="denied", message=deep.message, problems=(deep,))
    mutated = copy.deepcopy(obj)
    changes = [change for mutator in mutators for change in mutator(ctx, mutated)]
    patch = tuple(jsonpatch.make_patch(obj, mutated).patch)
    if not patch:
        return Verdict(allowed=True, decision="allowed", mutated=mutated)
    return Verdict(
        allowed=True,
        decision="patched",
        patch=patch,
        warnings=tuple(c.warning for c in changes),
        changes=tuple(changes),
        mutated=mutated,
    )
