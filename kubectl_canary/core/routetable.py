"""The RouteTable model shared by the plugin and the webhook: routes, destinations and weights.

A Gloo RouteTable (`gateway.solo.io/v1`) is kept as a dict. These functions read it into frozen values
that say, for every route, where its traffic goes: each `single` or `multi` destination, with the
upstream it names (an empty namespace means the RouteTable's own), its subset and its weight. Routing
semantics follow Gloo v1.22 (see the API notes): multi weights are relative, a missing weight counts
as 0, and a total below 1 is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from kubectl_canary.core.kinds import Obj

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class UpstreamRef:
    """An Upstream named by a destination, with its namespace resolved."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Destination:
    """One place a route sends traffic: a `single` destination or one entry of `multi`.

    `position` is the index within `multi.destinations` (None for `single`); `upstream` is None for
    destinations that do not name an Upstream (kube service refs, consul); `weight` is None where the
    entry has none (and always for `single`); `header_matched` is `is_header_route` of its route.
    """

    route_index: int
    route: str
    position: int | None
    upstream: UpstreamRef | None
    subset: tuple[tuple[str, str], ...]
    weight: int | None
    header_matched: bool

    @property
    def subset_values(self) -> dict[str, str]:
        return dict(self.subset)

    def describe(self) -> str:
        """`route /echo -> echo/echo subset version=v3`, the way denials and warnings name it."""
        target = str(self.upstream) if self.upstream else "a non-Upstream destination"
        subset = ",".join(f"{k}={v}" for k, v in self.subset)
        return f"route {self.route} -> {target}" + (f" subset {subset}" if subset else "")


@dataclass(frozen=True)
class WeightedRoute:
    """A route whose action is `multi`: its label and the weight of each destination (None if unset)."""

    route_index: int
    route: str
    weights: tuple[int | None, ...]

    @property
    def total(self) -> int:
        return sum(w or 0 for w in self.weights)


def _dict(value: object) -> Obj:
    """`value` when it is an object, else empty: the mutating webhook sees objects before schema validation,
    so a field of the wrong type counts as absent rather than crashing the model."""
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    """`value` when it is a list, else empty (see `_dict`)."""
    return value if isinstance(value, list) else []


def routes(rt: Mapping[str, Any]) -> list[Obj]:
    """The RouteTable's routes (an empty list when `spec.routes` is absent or not a list)."""
    return [r for r in _list(_dict(rt.get("spec")).get("routes")) if isinstance(r, dict)]


def matchers(route: Mapping[str, Any]) -> list[Obj]:
    """The route's matchers that are objects (none when `matchers` is absent or not a list)."""
    return [m for m in _list(route.get("matchers")) if isinstance(m, dict)]


def _matcher_path(matcher: Mapping[str, Any]) -> str:
    for key in ("prefix", "exact", "regex"):
        if isinstance(matcher.get(key), str):
            return str(matcher[key]) if key == "prefix" else f"{key}:{matcher[key]}"
    return "/"


def headers_of(route: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header (name, value) pairs of the route's matchers, in order."""
    found: list[tuple[str, str]] = []
    for matcher in matchers(route):
        for header in _list(matcher.get("headers")):
            if isinstance(header, dict):
                found.append((str(header.get("name", "")), str(header.get("value", ""))))
    return found


def _selects_by_header(matcher: Mapping[str, Any]) -> bool:
    # An inverted header matcher (`invertMatch: true`) takes every request *without* the header: it
    # narrows nothing to a group of testers, so it does not make a header phase.
    return any(isinstance(h, dict) and h.get("invertMatch") is not True for h in _list(matcher.get("headers")))


def is_header_route(route: Mapping[str, Any]) -> bool:
    """Whether the route only takes requests that carry headers: every one of its matchers requires one.

    Matchers are ORed, so one matcher without a (non-inverted) header lets any request of its path through;
    a route without matchers matches every request.
    """
    found = matchers(route)
    return bool(found) and all(_selects_by_header(m) for m in found)


def route_label(route: Mapping[str, Any]) -> str:
    """How messages name a route: its first path matcher, plus its headers (`/echo [stage=canary]`).

    A route without matchers matches `/` in Gloo; a route whose label would be ambiguous still gets one
    (its `name` is appended when it has one, so users can find it).
    """
    found = _list(route.get("matchers"))
    path = _matcher_path(found[0]) if found and isinstance(found[0], dict) else "/"
    headers = headers_of(route)
    label = path + (" [" + ",".join(f"{n}={v}" for n, v in headers) + "]" if headers else "")
    name = route.get("name")
    return f"{label} ({name})" if isinstance(name, str) and name else label


def own_namespace(rt: Mapping[str, Any]) -> str:
    """The RouteTable's namespace ("" when unknown): where refs without a namespace point."""
    return str(_dict(rt.get("metadata")).get("namespace") or "")


def named_ref(value: object, own_namespace: str) -> UpstreamRef | None:
    """A `{name, namespace}` ref (an Upstream, a kube Service ref, an UpstreamGroup) with its namespace
    resolved; None when it is not an object or has no name."""
    ref = _dict(value)
    if not ref.get("name"):
        return None
    return UpstreamRef(str(ref.get("namespace") or own_namespace), str(ref["name"]))


def _upstream_ref(dest: Mapping[str, Any], own_namespace: str) -> UpstreamRef | None:
    return named_ref(dest.get("upstream"), own_namespace)


def subset_of(dest: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A destination's `subset.values` as sorted pairs (empty when absent or not a map)."""
    values = _dict(_dict(dest.get("subset")).get("values"))
    return tuple(sorted((str(k), str(v)) for k, v in values.items()))


def weight_of(entry: Mapping[str, Any]) -> int | None:
    """The weight of one `multi.destinations` entry (None when unset or not an integer)."""
    weight = entry.get("weight")
    return weight if isinstance(weight, int) and not isinstance(weight, bool) else None


def show_weights(weights: Iterable[int | None]) -> str:
    """Weights as messages show them: `70,30`, with `-` for an unset one."""
    return ",".join("-" if w is None else str(w) for w in weights)


def route_action(route: Mapping[str, Any]) -> Obj:
    """The route's `routeAction` (empty when absent or not an object)."""
    return _dict(route.get("routeAction"))


def destination_of(entry: Mapping[str, Any]) -> Obj:
    """The `destination` of one `multi.destinations` entry (empty when absent or not an object)."""
    return _dict(entry.get("destination"))


def multi_destinations(route: Mapping[str, Any]) -> list[Obj] | None:
    """The `multi.destinations` list of a route, or None when the route is not `multi`."""
    multi = route_action(route).get("multi")
    if not isinstance(multi, dict):
        return None
    found = multi.get("destinations")
    return [d if isinstance(d, dict) else {} for d in found] if isinstance(found, list) else []


class _Parts:
    """The refs and subsets of one RouteTable's destinations, each made once: a thousand routes to the
    same two versions name the same two (Upstream, subset) pairs, and making the values is most of
    what reading a destination costs."""

    def __init__(self, own_namespace: str) -> None:
        self.own = own_namespace
        self._refs: dict[Any, UpstreamRef | None] = {}
        self._subsets: dict[Any, tuple[tuple[str, str], ...]] = {}

    def ref(self, dest: Mapping[str, Any]) -> UpstreamRef | None:
        ref = _dict(dest.get("upstream"))
        return self._once(self._refs, (ref.get("namespace"), ref.get("name")), lambda: named_ref(ref, self.own))

    def subset(self, dest: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        values = _dict(_dict(dest.get("subset")).get("values"))
        return self._once(self._subsets, tuple(chain.from_iterable(values.items())), lambda: subset_of(dest))

    @staticmethod
    def _once(memo: dict[Any, T], raw: tuple[Any, ...], make: Callable[[], T]) -> T:
        # Strings and None are keys as they are (they equal nothing of another type); other values are keyed
        # with their types (True and 1 hash alike but read differently), and one that cannot be a key (a list:
        # the schema refuses it, the mutating webhook still sees it) is read anew.
        key: Any = raw
        for value in raw:
            if value is not None and type(value) is not str:
                key = (_TYPED, *((type(v), v) for v in raw))
                break
        try:
            found = memo.get(key, _NONE)
        except TypeError:
            return make()
        if found is _NONE:
            found = memo[key] = make()
        return found  # type: ignore[no-any-return]


_TYPED: Any = object()
_NONE: Any = object()


def destinations(rt: Mapping[str, Any], labels: Sequence[str] | None = None) -> Iterator[Destination]:
    """Every destination of every route, in order (`labels`: the routes' labels, when known already)."""
    parts = _Parts(own_namespace(rt))
    for index, route in enumerate(routes(rt)):
        label = labels[index] if labels is not None else route_label(route)
        header = is_header_route(route)
        single = route_action(route).get("single")
        if isinstance(single, dict):
            yield Destination(index, label, None, parts.ref(single), parts.subset(single), None, header)
        for position, entry in enumerate(multi_destinations(route) or []):
            dest = destination_of(entry)
            yield Destination(index, label, position, parts.ref(dest), parts.subset(dest), weight_of(entry), header)


def weighted_routes(rt: Mapping[str, Any], labels: Sequence[str] | None = None) -> Iterator[WeightedRoute]:
    """Every `multi` route with its weights (`labels`: the routes' labels, when known already)."""
    for index, route in enumerate(routes(rt)):
        entries = multi_destinations(route)
        if entries is not None:
            label = labels[index] if labels is not None else route_label(route)
            yield WeightedRoute(index, label, tuple(weight_of(e) for e in entries))

