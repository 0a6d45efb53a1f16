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


@pytest.mark.parametrize(
    ("route", "shares"),
    [
        (HEADER_ROUTE, {(("version", "v2"),): 100.0}),
        (MULTI_ROUTE, {(("version", "v1"),): 70.0, (("version", "v2"),): 30.0}),
        ({"routeAction": {"multi": {"destinations": [{"destination": _dest("v1"), "weight": 1},
                                                     {"destination": _dest("v2"), "weight": 3}]}}},
         {(("version", "v1"),): 25.0, (("version", "v2"),): 75.0}),
        ({"routeAction": {"multi": {"destinations": [{"destination": _dest("v1")}]}}}, {}),
    ],
)
def test_traffic_shares_are_relative_weights(route, shares):
    assert rtm.traffic_shares(route) == shares


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
