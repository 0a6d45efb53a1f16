"""Platform policy: CanaryPolicies read into values, which ones govern a namespace, their strictest merge,
and the pure analyses of a RouteTable change that the webhook's policy checks are made of.

A CanaryPolicy (cluster-scoped, `policy.kubectl-canary.io/v1alpha1`) governs the namespaces its
`namespaceSelector` selects (all when absent), except its `exemptNamespaces`. Several policies may
govern a namespace; `effective` merges them into the strictest value of each field, remembering which
policy imposes it (the smallest `maxWeightStep`, `requireHeaderPhase` if any policy requires it,
cross-namespace Upstreams only if every policy allows them, every policy's `prefixes` at once, and
the strictest enforcement, Enforce > Warn > Audit). The webhook merges per enforcement (`levels`), so
that each policy's problems keep its own enforcement: a Warn policy's problem is a warning even when
an Enforce policy governs the same namespace.

The analyses compare an old RouteTable with a new one: every version's share of a route's non-header
traffic (`shifts`), versions that gain weighted traffic without a header-matched phase (`unphased`),
the paths routes claim (`claims`, matched against allowed prefixes by whole path segments) and the
objects routes send traffic to (`references`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.kinds import CANARY_POLICY, Obj, labels_of
from kubectl_canary.core.routetable import (
    destination_of,
    is_header_route,
    matchers,
    multi_destinations,
    named_ref,
    own_namespace,
    route_action,
    route_label,
    routes,
    subset_of,
    weight_of,
)
from kubectl_canary.core.selector import LabelSelector, label_selector

ENFORCE: Final = "Enforce"
WARN: Final = "Warn"
AUDIT: Final = "Audit"
ENFORCEMENTS: Final = (ENFORCE, WARN, AUDIT)  # the strictest first

# The spec fields, named as in the CRD: messages, metrics and status name them so.
NAMESPACE_SELECTOR: Final = "namespaceSelector"
EXEMPT_NAMESPACES: Final = "exemptNamespaces"
API_GROUP: Final = "apiGroup"
ENFORCEMENT: Final = "enforcement"
MAX_WEIGHT_STEP: Final = "maxWeightStep"
REQUIRE_HEADER_PHASE: Final = "requireHeaderPhase"
PREFIXES: Final = "prefixes"
CROSS_NAMESPACE: Final = "allowCrossNamespaceUpstreams"
FIELDS: Final = (NAMESPACE_SELECTOR, EXEMPT_NAMESPACES, API_GROUP, ENFORCEMENT, MAX_WEIGHT_STEP,
                 REQUIRE_HEADER_PHASE, PREFIXES, CROSS_NAMESPACE)

PLACEHOLDER: Final = "{namespace}"
# The API server labels every Namespace with its own name, so selectors can pick namespaces by name;
# a Namespace read from a directory may lack it, so it is added where it is missing.
METADATA_NAME: Final = "kubernetes.io/metadata.name"
_LABEL_VALUE: Final = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# Shares are fractions of relative weights; compare them with a little tolerance.
_EPSILON: Final = 1e-9

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """One CanaryPolicy, with the CRD's defaults applied (enforcement Enforce, no cross-namespace Upstreams)."""

    name: str
    namespace_selector: LabelSelector | None = None
    exempt_namespaces: tuple[str, ...] = ()
    api_group: str | None = None
    enforcement: str = ENFORCE
    max_weight_step: int | None = None
    require_header_phase: bool = False
    prefixes: tuple[str, ...] | None = None
    allow_cross_namespace_upstreams: bool = False

    def governs(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether the policy applies to `namespace`, whose Namespace carries `labels`."""
        if namespace in self.exempt_namespaces:
            return False
        return self.namespace_selector is None or self.namespace_selector.matches(labels)

    def allowed_prefixes(self, namespace: str) -> tuple[str, ...] | None:
        """The prefixes with `{namespace}` expanded; None when the policy allows any."""
        return None if self.prefixes is None else tuple(expand(p, namespace) for p in self.prefixes)

    def rules(self, namespace: str) -> list[str]:
        """What the policy imposes on `namespace`, as `field=value` in the CRD's names (for status)."""
        found = []
        if self.api_group is not None:
            found.append(f"{API_GROUP}={self.api_group}")
        if self.max_weight_step is not None:
            found.append(f"{MAX_WEIGHT_STEP}={self.max_weight_step}")
        if self.require_header_phase:
            found.append(f"{REQUIRE_HEADER_PHASE}=true")
        allowed = self.allowed_prefixes(namespace)
        if allowed is not None:
            found.append(f"{PREFIXES}={','.join(allowed) or '(none)'}")
        found.append(f"{CROSS_NAMESPACE}={str(self.allow_cross_namespace_upstreams).lower()}")
        return found

    def to_dict(self, namespace: str) -> dict[str, Any]:
        """The policy as `status -o json|yaml` shows it: every field, prefixes expanded for `namespace`."""
        allowed = self.allowed_prefixes(namespace)
        return {
            "name": self.name,
            ENFORCEMENT: self.enforcement,
            API_GROUP: self.api_group,
            MAX_WEIGHT_STEP: self.max_weight_step,
            REQUIRE_HEADER_PHASE: self.require_header_phase,
            PREFIXES: list(allowed) if allowed is not None else None,
            CROSS_NAMESPACE: self.allow_cross_namespace_upstreams,
        }


# -- reading ------------------------------------------------------------------------------------


def _bool(spec: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise InvalidObject(f"{where}.{key} must be true or false, not {value!r}")
    return value


def _string_list(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidObject(f"{where}.{key} must be a list of non-empty strings")
    return tuple(value)


def _api_group(spec: Mapping[str, Any], where: str) -> str | None:
    value = spec.get(API_GROUP)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise InvalidObject(f"{where}.{API_GROUP} must be a label value (63 characters at most), not {value!r}")
    return value


def _step(spec: Mapping[str, Any], where: str) -> int | None:
    value = spec.get(MAX_WEIGHT_STEP)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise InvalidObject(f"{where}.{MAX_WEIGHT_STEP} must be an integer from 1 to 100, not {value!r}")
    return value


def parse_policy(obj: Mapping[str, Any]) -> Policy:
    """The Policy a CanaryPolicy object states; InvalidObject naming the policy and field when it is malformed.

    The CRD's schema refuses these already; policies read from files (`review --state`, `--files`)
    have no schema in front of them. An unknown field is refused too: a misspelt rule must not be
    silently ignored.
    """
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidObject(f"a {CANARY_POLICY.kind} without metadata.name")
    where = f"{CANARY_POLICY.kind} {name}: spec"
    spec = obj.get("spec") if obj.get("spec") is not None else {}
    if not isinstance(spec, dict):
        raise InvalidObject(f"{where} must be an object")
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise InvalidObject(f"{where}.{unknown[0]} is not a {CANARY_POLICY.kind} field (known: {', '.join(FIELDS)})")
    enforcement = spec.get(ENFORCEMENT, ENFORCE)
    if enforcement not in ENFORCEMENTS:
        raise InvalidObject(f"{where}.{ENFORCEMENT} must be one of {', '.join(ENFORCEMENTS)}, not {enforcement!r}")
    prefixes = _string_list(spec, PREFIXES, where)
    if prefixes is not None and not all(p.startswith("/") for p in prefixes):
        raise InvalidObject(f"{where}.{PREFIXES}: every prefix starts with '/', e.g. /{PLACEHOLDER}")
    selector = spec.get(NAMESPACE_SELECTOR)
    return Policy(
        name=name,
        namespace_selector=None if selector is None else label_selector(selector, f"{where}.{NAMESPACE_SELECTOR}"),
        exempt_namespaces=_string_list(spec, EXEMPT_NAMESPACES, where) or (),
        api_group=_api_group(spec, where),
        enforcement=str(enforcement),
        max_weight_step=_step(spec, where),
        require_header_phase=_bool(spec, REQUIRE_HEADER_PHASE, where, False),
        prefixes=prefixes,
        allow_cross_namespace_upstreams=_bool(spec, CROSS_NAMESPACE, where, False),
    )


@dataclass(frozen=True)
class Unreadable:
    """A policy object that could not be read: its name (as far as known) and why."""

    name: str
    error: str


def read_policies(objects: Iterable[Mapping[str, Any]]) -> tuple[list[Policy], list[Unreadable]]:
    """The policies among `objects` (sorted by name), and the ones that could not be read."""
    found, bad = [], []
    for obj in objects:
        try:
            found.append(parse_policy(obj))
        except InvalidObject as err:
            meta = obj.get("metadata")
            bad.append(Unreadable(str(meta.get("name") or "") if isinstance(meta, dict) else "", str(err)))
    return sorted(found, key=lambda p: p.name), bad


def namespace_labels(namespace: str, namespace_obj: Obj | None) -> dict[str, str]:
    """The labels a Namespace's selectors see: its own, plus the name label the API server always sets."""
    labels = labels_of(namespace_obj) if namespace_obj else {}
    labels.setdefault(METADATA_NAME, namespace)
    return labels


def governing(policies: Iterable[Policy], namespace: str, namespace_obj: Obj | None) -> tuple[Policy, ...]:
    """The policies that govern `namespace` (its Namespace object gives the labels; None when unknown)."""
    labels = namespace_labels(namespace, namespace_obj)
    return tuple(sorted((p for p in policies if p.governs(namespace, labels)), key=lambda p: p.name))


# -- the strictest merge --------------------------------------------------------------------------


@dataclass(frozen=True)
class Imposed(Generic[T]):
    """A rule's value and the policies that impose it (several when they agree)."""

    value: T
    policies: tuple[str, ...]


@dataclass(frozen=True)
class Effective:
    """The strictest merge of some policies for one namespace.

    `api_groups` holds every group some policy requires, with its policies: more than one is a
    conflict no RouteTable can satisfy. `prefixes` holds each policy's allowed prefixes (expanded):
    a path must be allowed by every one. `same_namespace_upstreams` is imposed unless every policy
    allows cross-namespace Upstreams.
    """

    namespace: str
    enforcement: str
    policies: tuple[str, ...]
    api_groups: tuple[Imposed[str], ...] = ()
    max_weight_step: Imposed[int] | None = None
    require_header_phase: Imposed[bool] | None = None
    prefixes: tuple[Imposed[tuple[str, ...]], ...] = ()
    same_namespace_upstreams: Imposed[bool] | None = None


def strictest(enforcements: Iterable[str]) -> str:
    """Enforce over Warn over Audit (Audit when there is none)."""
    found = set(enforcements)
    return next((e for e in ENFORCEMENTS if e in found), AUDIT)


def effective(policies: Sequence[Policy], namespace: str) -> Effective | None:
    """The strictest value of each field over `policies` in `namespace` (None when there are none)."""
    if not policies:
        return None
    ordered = sorted(policies, key=lambda p: p.name)
    groups: dict[str, list[str]] = {}
    for policy in ordered:
        if policy.api_group is not None:
            groups.setdefault(policy.api_group, []).append(policy.name)
    steps = [p.max_weight_step for p in ordered if p.max_weight_step is not None]
    smallest = min(steps) if steps else None
    header = tuple(p.name for p in ordered if p.require_header_phase)
    same_namespace = tuple(p.name for p in ordered if not p.allow_cross_namespace_upstreams)
    return Effective(
        namespace=namespace,
        enforcement=strictest(p.enforcement for p in ordered),
        policies=tuple(p.name for p in ordered),
        api_groups=tuple(Imposed(g, tuple(names)) for g, names in sorted(groups.items())),
        max_weight_step=None if smallest is None else Imposed(
            smallest, tuple(p.name for p in ordered if p.max_weight_step == smallest)),
        require_header_phase=Imposed(True, header) if header else None,
        prefixes=tuple(
            Imposed(allowed, (p.name,)) for p in ordered if (allowed := p.allowed_prefixes(namespace)) is not None
        ),
        same_namespace_upstreams=Imposed(True, same_namespace) if same_namespace else None,
    )


def levels(policies: Sequence[Policy], namespace: str) -> tuple[Effective, ...]:
    """One strictest merge per enforcement among `policies`, the strictest enforcement first."""
    found = []
    for enforcement in ENFORCEMENTS:
        merged = effective([p for p in policies if p.enforcement == enforcement], namespace)
        if merged is not None:
            found.append(merged)
    return tuple(found)


# -- what a RouteTable routes ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Target:
    """Where a destination sends traffic: the object it names (`Upstream ns/name`, `Service ns/name`, or
    "" for other kinds) and its subset."""

    backend: str
    subset: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        """`v2` for the usual `version` subset, else the subset's `k=v` pairs, else the object."""
        if len(self.subset) == 1 and self.subset[0][0] == "version":
            return self.subset[0][1]
        if self.subset:
            return ",".join(f"{k}={v}" for k, v in self.subset)
        return self.backend or "a destination without an Upstream"


def _backend(dest: Mapping[str, Any], own: str) -> str:
    upstream, kube = named_ref(dest.get("upstream"), own), dest.get("kube")
    service = named_ref(kube.get("ref"), own) if isinstance(kube, dict) else None
    return f"Upstream {upstream}" if upstream else (f"Service {service}" if service else "")


def _target(dest: object, own: str) -> Target:
    found = dest if isinstance(dest, dict) else {}
    return Target(_backend(found, own), subset_of(found))


# Matcher fields whose value may be left out without changing what the matcher matches.
_DEFAULTS: Final = {"caseSensitive": True, "methods": [], "headers": [], "queryParameters": []}


def normalised_matcher(matcher: Mapping[str, Any]) -> dict[str, Any]:
    """`matcher` without the fields that say what is the default anyway (`caseSensitive: true`, empty
    `methods`, `headers`, `queryParameters`, or null ones), so equal matchers compare equal."""
    return {k: v for k, v in matcher.items() if v is not None and not (k in _DEFAULTS and v == _DEFAULTS[k])}


def route_key(route: Mapping[str, Any]) -> str:
    """What pairs a route with the same route in another version of the RouteTable: its normalised
    matchers (a route without any matches `/`, like one with an empty matcher)."""
    found = [normalised_matcher(m) for m in matchers(route)] or [{}]
    return json.dumps(found, sort_keys=True, default=str)


def _route_shares(route: Mapping[str, Any], own: str) -> dict[Target, float]:
    """The share (0..100) of the route's traffic each target gets; empty when it routes to no destinations
    this model sees (an UpstreamGroup, a delegation, a redirect) or its weights total less than 1."""
    single = route_action(route).get("single")
    if isinstance(single, dict):
        return {_target(single, own): 100.0}
    entries = multi_destinations(route) or []
    weights = [max(weight_of(e) or 0, 0) for e in entries]
    total = sum(weights)
    shares: dict[Target, float] = {}
    if total < 1:
        return shares
    for entry, weight in zip(entries, weights, strict=True):
        target = _target(destination_of(entry), own)
        shares[target] = shares.get(target, 0.0) + 100.0 * weight / total
    return shares


@dataclass(frozen=True)
class RouteTraffic:
    """A route that takes requests without headers: how messages name it, what pairs it with the same
    route in another version of the RouteTable (its matchers), and each target's share."""

    key: str
    label: str
    shares: Mapping[Target, float] = field(default_factory=dict)


def traffic(rt: Mapping[str, Any]) -> list[RouteTraffic]:
    """Every non-header route of `rt` with its shares, in order; of routes with the same matchers, the first
    (Gloo gives a request to the first route that matches)."""
    own, seen, found = own_namespace(rt), set(), []
    for route in routes(rt):
        if is_header_route(route):
            continue
        key = route_key(route)
        if key not in seen:
            seen.add(key)
            found.append(RouteTraffic(key, route_label(route), _route_shares(route, own)))
    return found


def header_targets(rt: Mapping[str, Any]) -> set[Target]:
    """The targets that header-matched routes of `rt` send traffic to."""
    own = own_namespace(rt)
    return {t for route in routes(rt) if is_header_route(route)
            for t, share in _route_shares(route, own).items() if share > 0}


def _backends(rt: Mapping[str, Any]) -> set[str]:
    """Every object any route of `rt` names, with or without traffic."""
    own, found = own_namespace(rt), set()
    for route in routes(rt):
        action = route_action(route)
        found.add(_target(action.get("single"), own).backend)
        found.update(_target(destination_of(e), own).backend for e in multi_destinations(route) or [])
    return found - {""}


def points(share: float) -> str:
    """A share as messages print it: `20`, `33.3`."""
    return f"{round(share, 1):g}"


@dataclass(frozen=True)
class Shift:
    """A target whose share of a route's non-header traffic changes from `before` to `after`."""

    route: str
    target: Target
    before: float
    after: float

    @property
    def change(self) -> float:
        return abs(self.after - self.before)


def shifts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Shift]:
    """Every change of a target's share on the routes both RouteTables have (paired by their matchers).

    A route that is new, or whose weights are unusable on either side, is not a shift of traffic.
    """
    before = {r.key: r for r in traffic(old)}
    found = []
    for route in traffic(new):
        was = before.get(route.key)
        if was is None or not was.shares or not route.shares:
            continue
        for target in sorted(set(was.shares) | set(route.shares)):
            old_share, new_share = was.shares.get(target, 0.0), route.shares.get(target, 0.0)
            if abs(old_share - new_share) > _EPSILON:
                found.append(Shift(route.label, target, old_share, new_share))
    return found


def steps_over(old: Mapping[str, Any], new: Mapping[str, Any], limit: int) -> list[Shift]:
    """Per route, the largest shift over `limit` points (on a tie, the target that gains traffic)."""
    largest: dict[str, Shift] = {}
    for shift in shifts(old, new):
        current = largest.get(shift.route)
        if shift.change > limit + _EPSILON and (current is None or _rank(shift) > _rank(current)):
            largest[shift.route] = shift
    return list(largest.values())


def _rank(shift: Shift) -> tuple[float, bool]:
    return shift.change, shift.after > shift.before


@dataclass(frozen=True)
class Unphased:
    """A target that gets `share` of a route's non-header traffic without having had a header-matched phase."""

    route: str
    target: Target
    share: float


def unphased(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Unphased]:
    """The targets of `new` that gain non-header traffic without a header-matched phase before.

    A target may have non-header traffic when `old` had a header-matched route to it, or already gave it
    non-header traffic. A route's primary (its largest share; on a tie the first) is exempt when `old`
    routed nothing to its Upstream at all: the first version of a new service (every CREATE) has no
    earlier version to be a canary of.
    """
    known: set[Target] = set()
    backends: set[str] = set()
    if old is not None:
        known = header_targets(old) | {t for r in traffic(old) for t, s in r.shares.items() if s > _EPSILON}
        backends = _backends(old)
    found = []
    for route in traffic(new):
        positive = [(t, s) for t, s in route.shares.items() if s > _EPSILON]
        if not positive:
            continue
        primary = max(positive, key=lambda pair: pair[1])[0]
        for target, share in positive:
            if target in known or (target == primary and target.backend not in backends):
                continue
            found.append(Unphased(route.label, target, share))
    return found


@dataclass(frozen=True)
class PathClaim:
    """A path a route's matcher claims: `kind` is prefix, exact or regex."""

    route: str
    kind: str
    path: str

    def __str__(self) -> str:
        return self.path if self.kind == "prefix" else f"{self.kind} {self.path}"


def claims(rt: Mapping[str, Any]) -> list[PathClaim]:
    """Every path the routes of `rt` match; a route without matchers (or a matcher without a path) is `/`."""
    found = []
    for route in routes(rt):
        label = route_label(route)
        for matcher in matchers(route) or [{}]:
            kind = next((k for k in ("prefix", "exact", "regex") if isinstance(matcher.get(k), str)), None)
            found.append(PathClaim(label, kind, str(matcher[kind])) if kind else PathClaim(label, "prefix", "/"))
    return found


def expand(prefix: str, namespace: str) -> str:
    """`prefix` with `{namespace}` replaced by `namespace`."""
    return prefix.replace(PLACEHOLDER, namespace)


def under(path: str, prefix: str) -> bool:
    """Whether `path` lies under the allowed `prefix`, by whole path segments.

    `/echo` allows `/echo` and `/echo/x`, not `/echoes`; `/echo/` allows `/echo/x` but not `/echo`
    (whose route would also catch `/echoes`, Envoy matching prefixes by characters); `/` allows all.
    """
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def outside(claim: PathClaim, allowed: Sequence[str]) -> bool:
    """Whether the claim is not allowed by `allowed` (expanded) prefixes. A regex always is: what it
    matches cannot be proven to stay under a prefix."""
    return claim.kind == "regex" or not any(under(claim.path, prefix) for prefix in allowed)


@dataclass(frozen=True, order=True)
class Reference:
    """An object a route sends traffic to: `kind` is Upstream, Service (a kube destination) or UpstreamGroup."""

    route: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def references(rt: Mapping[str, Any]) -> list[Reference]:
    """Every Upstream, Service and UpstreamGroup the routes of `rt` name, once per route, in order."""
    own, found = own_namespace(rt), []
    for route in routes(rt):
        label, action = route_label(route), route_action(route)
        dests = [action.get("single")] + [destination_of(e) for e in multi_destinations(route) or []]
        for dest in dests:
            if not isinstance(dest, dict):
                continue
            upstream, kube = named_ref(dest.get("upstream"), own), dest.get("kube")
            service = named_ref(kube.get("ref"), own) if isinstance(kube, dict) else None
            if upstream:
                found.append(Reference(label, "Upstream", upstream.namespace, upstream.name))
            elif service:
                found.append(Reference(label, "Service", service.namespace, service.name))
        group = named_ref(action.get("upstreamGroup"), own)
        if group:
            found.append(Reference(label, "UpstreamGroup", group.namespace, group.name))
    return list(dict.fromkeys(found))
