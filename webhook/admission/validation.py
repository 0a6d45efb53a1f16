"""Validation: the checks behind `POST /validate` (pure, given a Lookup).

RouteTable CREATE/UPDATE: every destination that names an Upstream needs that Upstream; a subset
needs a kube Upstream whose `subsetSpec` has a selector with exactly the subset's keys (Gloo's own
check), and a Deployment in the Upstream's service namespace whose pods carry the Upstream's
selector and the subset's values (Gloo does not check this: with its default ANY_ENDPOINT fallback,
traffic for a subset nobody serves silently goes to the other versions). Every `multi` totals at
least 1 (Gloo's rule) and exactly 100 (what mutation produces; anything else means it was skipped).

Deployment DELETE (`webhook.admission.deletion`): deleting the last Deployment that serves a destination
some RouteTable still sends traffic to is denied, naming the RouteTable and route.

Weight-0 destinations receive no traffic (Gloo keeps them in the cluster list with no share), so
both rules treat them alike: a weight-0 destination nobody serves is a warning on the RouteTable,
and deleting its last Deployment is allowed with a warning. The plugin's `finish` moves all traffic
to the new version before deleting the old one, and a later change that gives the old destination
weight again is denied, because by then no Deployment serves it.

An UPDATE that leaves the routing unchanged (annotations, other labels, Gloo's status writes: the
RouteTable CRD has no status subresource) only warns: a problem that was already there must not block a
status write. Routing is `spec` and the `apiGroup` label, which picks the VirtualService that serves the
routes: relabelling a RouteTable into another VirtualService is judged like a spec change. Such an
UPDATE is ratcheted (`webhook.admission.ratchet`): a problem its `oldObject` already had only warns. An object
that a check cannot compare (nested past Python's recursion limit) is denied saying so.

Some problems are only recorded (a CanaryPolicy in Audit mode, `webhook.admission.policy`): they reach the
verdict, and so the logs and metrics, but neither deny nor warn; the decision is then `audit`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.datapath import service_port_problem
from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.routetable import Destination, UpstreamRef
from webhook.admission.decision import WARN as WARN_MODE
from webhook.admission.decision import Check, Context, Enforcement, Problem, Verdict, denial_message, grouped, unique
from webhook.admission.limits import show_numbers
from webhook.admission.lookup import (
    CachedOnly,
    Lookup,
    find_service,
    find_upstream,
    pod_labels,
    pods_namespace,
    serves,
    serving,
)
from webhook.admission.mutation import MAX_WEIGHT
from webhook.admission.ratchet import ratcheted


def kube_spec(upstream: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `spec.kube` of a kube Upstream, or None for static, AWS and other Upstream types."""
    spec = upstream.get("spec")
    kube = spec.get("kube") if isinstance(spec, dict) else None
    return kube if isinstance(kube, dict) else None


def subset_key_sets(kube: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The key sets of `subsetSpec.selectors`, each sorted (empty when there is no subsetSpec)."""
    selectors = (kube.get("subsetSpec") or {}).get("selectors") or []
    return [
        tuple(sorted(str(k) for k in sel.get("keys") or []))
        for sel in selectors
        if isinstance(sel, dict)
    ]


def kube_selector(kube: Mapping[str, Any]) -> dict[str, str]:
    selector = kube.get("selector")
    return {str(k): str(v) for k, v in selector.items()} if isinstance(selector, dict) else {}


def carries_traffic(dest: Destination) -> bool:
    """A `single` destination always does; a `multi` one when its weight is above 0."""
    return dest.position is None or (dest.weight or 0) > 0


def _natural(value: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", value)]


def versions_found(deployments: Sequence[Obj], selector: Mapping[str, str], keys: Sequence[str]) -> str:
    """What the Deployments behind an Upstream do serve, for a denial: `v1, v2` (or `k=a,l=b, ...`)."""
    shown = set()
    for deployment in deployments:
        if not serves(deployment, selector, {}):
            continue
        labels = pod_labels(deployment)
        values = [labels.get(k, "") for k in keys]
        shown.add(values[0] if len(keys) == 1 else ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
    if not shown:
        wanted = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(any)"
        return f"no Deployment there matches the Upstream's selector {wanted}"
    return "found " + ", ".join(sorted((v or '""' for v in shown), key=_natural))


def _target_problem(lookup: Lookup, ref: UpstreamRef, subset: Mapping[str, str]) -> Problem | None:
    """What is wrong with routing to Upstream `ref` with `subset`, said without the route (or None)."""
    upstream = find_upstream(lookup, ref.namespace, ref.name)
    if upstream is None:
        return Problem("upstream-missing", f"Upstream {ref} does not exist")
    port = _port_problem(lookup, upstream)
    if port is not None:
        return port
    if not subset:
        return None
    kube = kube_spec(upstream)
    if kube is None:
        return Problem("subset-unsupported",
                       f"Upstream {ref} is not a kube Upstream and has no subsetSpec; Gloo would ignore the subset")
    key_sets = subset_key_sets(kube)
    keys = tuple(sorted(subset))
    if not key_sets:
        return Problem("subset-unsupported",
                       f"Upstream {ref} has no subsetSpec; Gloo would ignore the subset and use every version")
    if keys not in key_sets:
        has = " or ".join("[" + ",".join(s) + "]" for s in key_sets)
        wanted = ",".join(keys)
        return Problem("subset-keys", f"Upstream {ref} has no subset selector with keys [{wanted}]; it has {has}")
    namespace, selector = pods_namespace(upstream) or "", kube_selector(kube)
    if serving(lookup, namespace, selector, subset):
        return None
    found = versions_found(lookup.deployments(namespace, fresh=True), selector, keys)
    return Problem("no-deployment", f"no Deployment in namespace {namespace} serves it; {found}")


def _port_problem(lookup: Lookup, upstream: Mapping[str, Any]) -> Problem | None:
    """A kube Upstream whose `servicePort` is not a port of its Service (when that Service exists: an
    Upstream may be applied before its Service, as a directory of manifests often is)."""
    kube = kube_spec(upstream)
    if kube is None or not kube.get("serviceName"):
        return None
    service = find_service(lookup, pods_namespace(upstream) or "", str(kube["serviceName"]))
    message = service_port_problem(upstream, service) if service is not None else None
    return Problem("upstream-port", message) if message else None


def check_upstream(ctx: Context) -> Iterator[Problem]:
    """An Upstream write: its `kube.servicePort` must be a port of its Service, or Gloo routes nothing to
    it while marking it Accepted. An UPDATE that leaves `spec` alone (Gloo's status writes) only warns."""
    if not ctx.is_upstream_write or ctx.review.obj is None:
        return
    problem = _port_problem(ctx.lookup, ctx.with_namespace(ctx.review.obj))
    if problem is not None:
        yield problem.as_warning("not enforced (spec unchanged): ") if ctx.spec_unchanged else problem


def check_destinations(ctx: Context) -> Iterator[Problem]:
    """Every Upstream destination of a RouteTable exists and is served (see the module docstring)."""
    if ctx.new is None:
        return
    # A thousand routes usually share a handful of (Upstream, subset) targets: judge each target once.
    judged: dict[tuple[UpstreamRef, tuple[tuple[str, str], ...]], Problem | None] = {}
    # Routing unchanged (Gloo's status writes, labels): the problems only warn, so the watch cache is good
    # enough and the API server is not asked again for every status write.
    lookup = CachedOnly(ctx.lookup) if ctx.routing_unchanged else ctx.lookup
    for dest in ctx.new.destinations:
        if dest.upstream is None:
            continue
        key = (dest.upstream, dest.subset)
        if key not in judged:
            judged[key] = _target_problem(lookup, dest.upstream, dest.subset_values)
        problem = judged[key]
        if problem is None:
            continue
        message = f"{dest.describe()}: {problem.message}"
        if problem.reason == "no-deployment" and not carries_traffic(dest):
            message += " (weight 0, so no traffic yet)"
        yield Problem(problem.reason, message, deny=carries_traffic(dest) or problem.reason != "no-deployment",
                      like=message.removeprefix(f"route {dest.route}"))


def check_weights(ctx: Context) -> Iterator[Problem]:
    """Every `multi` has destinations and weights that total exactly 100."""
    if ctx.new is None:
        return
    for route in ctx.new.weighted:
        found = _weights_problem(route.weights, route.total)
        if found is not None:
            reason, text = found
            yield Problem(reason, f"route {route.route}: {text}", like=text)


def _weights_problem(weights: Sequence[int | None], total: int) -> tuple[str, str] | None:
    shown = show_numbers(weights)
    if not weights:
        return "weights-empty", "multi has no destinations"
    if any(w is not None and w < 0 for w in weights):
        return "weights-negative", f"weights {shown} include a negative one"
    if any(w is not None and w > MAX_WEIGHT for w in weights):
        return "weights-range", f"weights {shown} include one over Gloo's maximum {MAX_WEIGHT}"
    if total < 1:
        return "weights-zero", f"weights {shown} total 0; Gloo needs at least 1"
    if total != 100:
        return "weights-total", (f"weights {shown} total {total}, not 100 "
                                 f"(is the mutating webhook {names.WEBHOOK_MUTATE} installed?)")
    return None


def configured_enforcement(ctx: Context) -> str:
    """`--enforcement`, for the whole webhook: `warn` admits whatever would be denied, policy denials
    included (a CanaryPolicy's own enforcement applies to its problems, see `webhook.admission.policy`)."""
    return ctx.settings.enforcement


def _found(ctx: Context, checks: Collection[Check]) -> list[Problem]:
    problems = unique(p for check in checks for p in check(ctx))
    if ctx.is_routetable_write and ctx.routing_unchanged:
        return [p.as_warning("not enforced (spec unchanged): ") if p.deny else p for p in problems]
    return ratcheted(ctx, problems, checks)


def validate(ctx: Context, checks: Collection[Check], enforcement: Enforcement = configured_enforcement) -> Verdict:
    """Run every check and combine what they found into one verdict (all problems at once)."""
    try:
        problems = [ctx.too_many_routes] if ctx.too_many_routes else _found(ctx, checks)
    except RecursionError:
        problems = [ctx.too_deep]
    shown = [p for p in problems if not p.recorded_only]
    denying = [p for p in shown if p.deny]
    warnings = tuple(grouped([p for p in shown if not p.deny]))
    if not denying:
        decision = "audit" if len(shown) < len(problems) else "allowed"
        return Verdict(allowed=True, decision=decision, warnings=warnings, problems=tuple(problems))
    if enforcement(ctx) == WARN_MODE:
        return Verdict(
            allowed=True,
            decision="warned",
            warnings=tuple(grouped(denying)) + warnings,
            problems=tuple(problems),
        )
    return Verdict(
        allowed=False,
        decision="denied",
        message=denial_message(denying),
        warnings=warnings,
        problems=tuple(problems),
    )
