"""The RouteTable model: routes, destinations, weights and traffic shares as Gloo reads them."""

from __future__ import annotations

import pytest

from kubectl_canary.core import routetable as rtm
from kubectl_canary.core.routetable import UpstreamRef


def _dest(version, name="echo", namespace=None):
    upstream = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"upstream": upstream, "subset": {"values": {"version": version}}}


def _rt(*routes, namespace="echo"):
    return {"metadata": {"name": "echo-routes", "namespace": namespace}, "spec": {"routes": list(routes)}}


HEADER_ROUTE = {"matchers": [{"headers": [{"name": "stage", "value": "canary"}], "prefix": "/echo"}],
                "routeAction": {"single": _dest("v2", namespace="echo")}}
MULTI_ROUTE = {"matchers": [{"prefix": "/echo"}],
               "routeAction": {"multi": {"destinations": [{"destination": _dest("v1"), "weight": 70},
                                                          {"destination": _dest("v2"), "weight": 30}]}}}


@pytest.mark.parametrize(
    ("rt", "count"),
    [({}, 0), ({"spec": {"routes": "nope"}}, 0), ({"spec": {"routes": [1, {}, "x"]}}, 1), (_rt(MULTI_ROUTE), 1)],
)
def test_routes_ignores_what_is_not_a_route(rt, count):
    assert len(rtm.routes(rt)) == count


@pytest.mark.parametrize(
    ("route", "label"),
    [
        (HEADER_ROUTE, "/echo [stage=canary]"),
        (MULTI_ROUTE, "/echo"),
        ({"matchers": [{"exact": "/x"}]}, "exact:/x"),
        ({"matchers": [{"regex": "/x.*"}], "name": "r1"}, "regex:/x.* (r1)"),
        ({}, "/"),
    ],
)
def test_route_label(route, label):
    assert rtm.route_label(route) == label


def test_destinations_resolve_namespaces_and_weights():
    found = list(rtm.destinations(_rt(HEADER_ROUTE, MULTI_ROUTE)))
    assert [(d.route_index, d.position, d.upstream, d.subset_values, d.weight, d.header_matched) for d in found] == [
        (0, None, UpstreamRef("echo", "echo"), {"version": "v2"}, None, True),
        (1, 0, UpstreamRef("echo", "echo"), {"version": "v1"}, 70, False),
        (1, 1, UpstreamRef("echo", "echo"), {"version": "v2"}, 30, False),
    ]
    assert found[1].describe() == "route /echo -> echo/echo subset version=v1"


def test_a_destination_without_an_upstream_is_described_as_such():
    route = {"matchers": [{"prefix": "/k"}], "routeAction": {"single": {"kube": {"ref": {"name": "svc"}}}}}
    (dest,) = rtm.destinations(_rt(route))
    assert dest.upstream is None and dest.describe() == "route /k -> a non-Upstream destination"


def test_weighted_routes_and_totals():
    (weighted,) = rtm.weighted_routes(_rt(HEADER_ROUTE, MULTI_ROUTE))
    assert (weighted.route_index, weighted.weights, weighted.total) == (1, (70, 30), 100)


# Wrongly typed fields, as the mutating webhook sees them before schema validation: each is treated as absent.
ODD_ROUTETABLES = {
    "spec-list": {"metadata": {"namespace": "echo"}, "spec": ["x"]},
    "spec-string": {"spec": "x"},
    "metadata-string": {"metadata": "x", "spec": {"routes": [MULTI_ROUTE]}},
    "routes-map": {"spec": {"routes": {"a": 1}}},
    "matchers-strings": _rt({"matchers": ["abc"], "routeAction": {"single": _dest("v1")}}),
    "matchers-map": _rt({"matchers": {"prefix": "/x"}, "routeAction": {"single": _dest("v1")}}),
    "headers-string": _rt({"matchers": [{"prefix": "/x", "headers": "stage"}], "routeAction": {"single": _dest("v1")}}),
    "headers-strings": _rt({"matchers": [{"prefix": "/x", "headers": ["stage"]}],
                            "routeAction": {"single": _dest("v1")}}),
    "subset-string": _rt({"routeAction": {"single": {"upstream": {"name": "echo"}, "subset": "x"}}}),
    "subset-values-list": _rt({"routeAction": {"single": {"upstream": {"name": "echo"}, "subset": {"values": ["x"]}}}}),
    "destination-string": _rt({"routeAction": {"multi": {"destinations": [{"destination": "x", "weight": 100}]}}}),
    "destinations-string": _rt({"routeAction": {"multi": {"destinations": "x"}}}),
    "multi-string": _rt({"routeAction": {"multi": "x"}}),
    "routeAction-string": _rt({"matchers": [{"prefix": "/x"}], "routeAction": "x"}),
    "upstream-string": _rt({"routeAction": {"single": {"upstream": "x"}}}),
    "weight-string": _rt({"routeAction": {"multi": {"destinations": [{"destination": _dest("v1"), "weight": "5"}]}}}),
}


V1 = "echo/echo subset version=v1"
# What each leaves, as a user reads it: the routes' labels, their destinations and their weights (weights,
# total). A wrongly typed field counts as absent: no header matchers, no subset, no Upstream, weight 0.
ODD_LEAVES = {
    "spec-list": ([], [], []),
    "spec-string": ([], [], []),
    # no metadata: the RouteTable's namespace is unknown, so is the Upstream's that names none
    "metadata-string": (["/echo"], ["route /echo -> /echo subset version=v1", "route /echo -> /echo subset version=v2"],
                        [((70, 30), 100)]),
    "routes-map": ([], [], []),
    "matchers-strings": (["/"], [f"route / -> {V1}"], []),
    "matchers-map": (["/"], [f"route / -> {V1}"], []),
    "headers-string": (["/x"], [f"route /x -> {V1}"], []),
    "headers-strings": (["/x"], [f"route /x -> {V1}"], []),
    "subset-string": (["/"], ["route / -> echo/echo"], []),
    "subset-values-list": (["/"], ["route / -> echo/echo"], []),
    "destination-string": (["/"], ["route / -> a non-Upstream destination"], [((100,), 100)]),
    "destinations-string": (["/"], [], [((), 0)]),
    "multi-string": (["/"], [], []),
    "routeAction-string": (["/x"], [], []),
    "upstream-string": (["/"], ["route / -> a non-Upstream destination"], []),
    "weight-string": (["/"], [f"route / -> {V1}"], [((None,), 0)]),
}


@pytest.mark.parametrize(("rt", "leaves"), [(ODD_ROUTETABLES[k], v) for k, v in ODD_LEAVES.items()], ids=ODD_LEAVES)
def test_wrongly_typed_fields_count_as_absent(rt, leaves):
    labels, described, weighted = leaves
    routes = rtm.routes(rt)
    assert [rtm.route_label(route) for route in routes] == labels
    assert all(rtm.headers_of(route) == [] and not rtm.is_header_route(route) for route in routes)
    assert all(isinstance(rtm.route_action(route), dict) for route in routes)
    assert [d.describe() for d in rtm.destinations(rt)] == described
    assert [(w.weights, w.total) for w in rtm.weighted_routes(rt)] == weighted


def test_every_odd_route_table_has_what_it_leaves():
    assert ODD_LEAVES.keys() == ODD_ROUTETABLES.keys()


@pytest.mark.parametrize(
    ("matchers", "header"),
    [
        ([{"prefix": "/echo", "headers": [{"name": "stage", "value": "canary"}]}], True),
        ([{"prefix": "/echo", "headers": [{"name": "stage", "value": "canary", "invertMatch": True}]}], False),
        ([{"prefix": "/echo", "headers": [{"name": "a", "invertMatch": True}, {"name": "stage", "value": "c"}]}],
         True),
        ([{"prefix": "/echo", "headers": [{"name": "stage", "invertMatch": False}]}], True),
        ([{"prefix": "/echo", "headers": [{"name": "s", "value": "c"}]}, {"prefix": "/echo"}], False),
        ([{"prefix": "/echo", "headers": []}], False),
        ([], False),
        (None, False),
        ("x", False),
    ],
)
def test_header_route_needs_a_non_inverted_header_on_every_matcher(matchers, header):
    route = {"matchers": matchers, "routeAction": {"single": _dest("v2")}}
    assert rtm.is_header_route(route) is header
    assert [d.header_matched for d in rtm.destinations(_rt(route))] == [header]


@pytest.mark.parametrize(
    ("route", "expected"),
    [(MULTI_ROUTE, 2), (HEADER_ROUTE, None), ({"routeAction": {"multi": {}}}, 0),
     ({"routeAction": {"multi": {"destinations": [None]}}}, 1)],
)
def test_multi_destinations(route, expected):
    found = rtm.multi_destinations(route)
    assert (None if found is None else len(found)) == expected


def test_headers_of_lists_every_matcher_header():
    route = {"matchers": [{"headers": [{"name": "a", "value": "1"}]}, {"headers": [{"name": "b", "value": "2"}]}]}
    assert rtm.headers_of(route) == [("a", "1"), ("b", "2")]


@pytest.mark.parametrize(("weights", "shown"), [((70, 30), "70,30"), ((None, 10), "-,10"), ((), "")])
def test_show_weights(weights, shown):
    assert rtm.show_weights(weights) == shown


def test_destinations_read_refs_and_subsets_by_value_and_type():
    # Values the schema refuses reach the mutating webhook anyway: each is read as it is, never mixed up with
    # an equal-hashing value of another type (True and 1) or dropped for being unhashable (a list).
    def to(namespace, version):
        return {"destination": {"upstream": {"name": "echo", "namespace": namespace},
                                "subset": {"values": {"version": version}}}, "weight": 1}

    rt = {"metadata": {"namespace": "own"}, "spec": {"routes": [{"routeAction": {"multi": {"destinations": [
        to(True, True), to(1, 1), to("1", "1"), to(None, ["x"]), to(None, "v1")]}}}]}}
    found = [(str(d.upstream), d.subset) for d in rtm.destinations(rt)]
    assert found == [("True/echo", (("version", "True"),)), ("1/echo", (("version", "1"),)),
                     ("1/echo", (("version", "1"),)), ("own/echo", (("version", "['x']"),)),
                     ("own/echo", (("version", "v1"),))]
