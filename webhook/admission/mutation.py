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

from collections.abc import Callable, Collection, Sequence

from kubectl_canary.core import names
from kubectl_canary.core.kinds import labels_of
from kubectl_canary.core.routetable import route_action, route_label, weight_of
from webhook.admission.decision import WARN, Change, Context, Mutator, Verdict
from webhook.admission.draft import MISSING, Draft
from webhook.admission.limits import show_numbers
from webhook.admission.lookup import find_namespace
from webhook.admission.review import short

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


def _weight_path(route: int, entry: int) -> tuple[str | int, ...]:
    return ("spec", "routes", route, "routeAction", "multi", "destinations", entry, "weight")


def mutate_weights(ctx: Context, draft: Draft) -> list[Change]:
    """Make every `multi` of the RouteTable total 100 (see the module docstring)."""
    # An UPDATE that leaves the routing alone (a status or annotation write) is not a routing change: its
    # routes are neither rewritten nor, by validation, judged. One that changes the apiGroup label (the
    # user's, or the label mutator's just before) is judged, so it is normalised too.
    old_label = labels_of(ctx.review.old or {}).get(names.API_GROUP)
    if ctx.new is None or (ctx.spec_unchanged and draft.get("metadata", "labels", names.API_GROUP) == old_label):
        return []
    # Routes with the same weights get the same new ones: one change names the first and counts the rest,
    # so that a RouteTable of 10,000 routes gets one warning, not 10,000.
    done: dict[tuple[tuple[int | None, ...], str], tuple[list[int], str, int]] = {}
    # The raw list, not `routes()`: a patch path needs the index in the object itself, and the mutating
    # webhook sees objects before schema validation (a route may be something other than an object).
    raw_routes = draft.get("spec", "routes")
    for index, route in enumerate(raw_routes if isinstance(raw_routes, list) else []):
        multi = route_action(route).get("multi") if isinstance(route, dict) else None
        entries = multi.get("destinations") if isinstance(multi, dict) else None
        if not entries or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            continue
        before = [weight_of(e) for e in entries]
        result = normalised(before)
        if result is None:
            continue
        after, how = result
        for position, (entry, weight) in enumerate(zip(entries, after, strict=True)):
            if entry.get("weight") != weight or type(entry.get("weight")) is not int:
                draft.set(_weight_path(index, position), weight, exists="weight" in entry)
        key = (tuple(before), how)
        _, first, count = done.get(key) or (after, route_label(route), 0)
        done[key] = (after, first, count + 1)
    return [_weights_change(before, after, how, first, count) for (before, how), (after, first, count) in done.items()]


def _weights_change(before: Sequence[int | None], after: Sequence[int], how: str, first: str, count: int) -> Change:
    routes = f"route {first}" + (f" and {count - 1:,} more like it" if count > 1 else "")
    text = f"{routes}: weights {show_numbers(before)} {how} to {show_numbers(after)}"
    return Change("weights-filled" if how == "filled" else "weights-normalised", short(text))


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


# Asked in order; the first answer wins. Platform policy adds its source in front (`webhook.admission.rules`).
API_GROUP_SOURCES: tuple[ApiGroupSource, ...] = (namespace_api_group, default_api_group)


def api_group_mutator(sources: Sequence[ApiGroupSource]) -> Mutator:
    """A mutator that labels a RouteTable without `apiGroup` from the first source with an answer."""

    def mutate_api_group(ctx: Context, draft: Draft) -> list[Change]:
        labels = draft.get("metadata", "labels")
        if ctx.new is None or (isinstance(labels, dict) and names.API_GROUP in labels):
            return []
        for source in sources:
            found = source(ctx)
            if found:
                group, origin = found
                meta = draft.get("metadata", default=MISSING)
                if meta is MISSING:
                    draft.set(("metadata",), {"labels": {names.API_GROUP: group}})
                elif not isinstance(meta, dict):  # not an object yet: the API server's schema refuses it
                    return []
                elif not isinstance(labels, dict):
                    draft.set(("metadata", "labels"), {names.API_GROUP: group})
                else:
                    draft.set(("metadata", "labels", names.API_GROUP), group)
                return [Change("api-group", short(f"label {names.API_GROUP}={group} added ({origin})"))]
        return []

    return mutate_api_group


def mutate(ctx: Context, mutators: Collection[Mutator]) -> Verdict:
    """Run the mutators over a draft of the request's object; the verdict carries their patch and warnings."""
    obj = ctx.review.obj
    if ctx.new is None or obj is None:
        return Verdict(allowed=True, decision="allowed")
    draft = Draft(obj)
    try:
        refused = ctx.too_many_routes
        changes = [change for mutator in mutators for change in mutator(ctx, draft)] if refused is None else []
    except RecursionError:
        refused = ctx.too_deep
    if refused is not None:
        # Not silently admitted unchanged: it would be stored without what validation relies on.
        if ctx.settings.enforcement == WARN:
            return Verdict(allowed=True, decision="warned", warnings=(f"admitted unmutated: {refused.message}",),
                           problems=(refused,))
        return Verdict(allowed=False, decision="denied", message=refused.message, problems=(refused,))
    if not draft.changed:
        return Verdict(allowed=True, decision="allowed", draft=draft)
    return Verdict(
        allowed=True,
        decision="patched",
        warnings=tuple(c.warning for c in changes),
        changes=tuple(changes),
        draft=draft,
    )
