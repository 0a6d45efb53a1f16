"""The managed routes inside any RouteTable: rewritten for a state, recognised back, every other route and
option left exactly as it was, and hand-edited shapes refused with what was found."""

from __future__ import annotations

import copy

import pytest

from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.routes import (
    RouteState,
    initial_route,
    recognise,
    render_base,
    rewrite,
    routes_to,
    set_versions,
)
from kubectl_canary.core.routetable import UpstreamRef

SHOP = UpstreamRef("shop", "shop")
STATES = [
    RouteState("v1"),
    RouteState("v1", "v2", 0, (("stage", "canary"),)),
    RouteState("v1", "v2", 50, (("stage", "canary"),)),
    RouteState("v3", "v4", 100, (("a", "1"), ("b", "2"))),
]


def _rt(routes, namespace="shop", name="shop-routes"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"routes": routes}}


def _to(version, upstream="shop", namespace="shop"):
    dest = {"upstream": {"name": upstream, "namespace": namespace}, "subset": {"values": {"version": version}}}
    return {"single": dest}


# What real RouteTables hold (issue 18): two routes to the service with their own options, one to another
# Upstream, a static answer; and a route without matchers (it matches `/` in Gloo).
ADMIN = {"matchers": [{"prefix": "/shop/admin"}], "routeAction": {"single": {"upstream": {"name": "admin"}}},
         "options": {"timeout": "30s"}}
STATIC = {"matchers": [{"exact": "/robots.txt"}], "directResponseAction": {"status": 200, "body": "no"}}
API = {"name": "api", "matchers": [{"prefix": "/shop/api", "headers": [{"name": "x-tenant", "value": "a"}]}],
       "routeAction": _to("v1"), "options": {"timeout": "5s", "retries": {"retryOn": "5xx", "numRetries": 2}}}
MAIN = {"matchers": [{"prefix": "/shop"}], "routeAction": _to("v1"), "options": {"timeout": "10s"}}
STABLE_TABLE = _rt([ADMIN, copy.deepcopy(API), STATIC, copy.deepcopy(MAIN)])


def _others(routes):
    return [r for r in routes if r in (ADMIN, STATIC)]


@pytest.mark.parametrize("state", STATES)
def test_recognise_reads_back_what_rewrite_writes_on_a_table_with_other_routes(state):
    managed = recognise(STABLE_TABLE, "shop", SHOP)
    assert managed.state == RouteState("v1") and managed.paths == ("/shop/api [x-tenant=a] (api)", "/shop")
    routes = rewrite(STABLE_TABLE, SHOP, managed, state)
    again = recognise(_rt(routes), "shop", SHOP)
    assert again.state == state and again.paths == managed.paths


@pytest.mark.parametrize("state", STATES[1:])
def test_each_managed_route_gets_its_twin_directly_above_it_and_other_routes_stay_in_place(state):
    routes = rewrite(STABLE_TABLE, SHOP, recognise(STABLE_TABLE, "shop", SHOP), state)
    assert routes[0] == ADMIN and routes[3] == STATIC and len(routes) == 6
    twin, api, main_twin, main = routes[1], routes[2], routes[4], routes[5]
    headers = [{"name": n, "value": v} for n, v in state.headers]
    assert twin == {"name": "api-canary",
                    "matchers": [{"prefix": "/shop/api", "headers": [{"name": "x-tenant", "value": "a"}, *headers]}],
                    "routeAction": _to(state.canary), "options": API["options"]}
    assert main_twin == {"matchers": [{"headers": headers, "prefix": "/shop"}], "routeAction": _to(state.canary),
                         "options": MAIN["options"]}
    for route, original in ((api, API), (main, MAIN)):
        assert {k: v for k, v in route.items() if k != "routeAction"} == {
            k: v for k, v in original.items() if k != "routeAction"}
        weights = [(d["destination"]["subset"]["values"]["version"], d["weight"])
                   for d in route["routeAction"]["multi"]["destinations"]]
        assert weights == [(state.primary, 100 - state.weight), (state.canary, state.weight)]


@pytest.mark.parametrize(("first", "then"), [(STATES[2], RouteState("v2")), (STATES[1], RouteState("v1"))])
def test_finish_and_abort_return_every_route_byte_for_byte_to_a_single_destination(first, then):
    weighted = _rt(rewrite(STABLE_TABLE, SHOP, recognise(STABLE_TABLE, "shop", SHOP), first))
    routes = rewrite(weighted, SHOP, recognise(weighted, "shop", SHOP), then)
    expected = copy.deepcopy(STABLE_TABLE["spec"]["routes"])
    for route in (expected[1], expected[3]):
        route["routeAction"] = _to(then.primary)
    assert routes == expected


def test_a_route_without_matchers_gets_a_twin_that_matches_slash_with_the_header():
    rt = _rt([{"routeAction": _to("v1")}])
    routes = rewrite(rt, SHOP, recognise(rt, "shop", SHOP), STATES[1])
    assert routes[0]["matchers"] == [{"headers": [{"name": "stage", "value": "canary"}], "prefix": "/"}]
    assert "matchers" not in routes[1] and recognise(_rt(routes), "shop", SHOP).state == STATES[1]


def test_the_seed_shape_is_what_the_first_route_renders():
    first = initial_route(UpstreamRef("echo", "echo"), "/echo", "v1")
    header, main = render_base(first, first["routeAction"]["single"], RouteState("v1", "v2", 30, (("z", "1"),)))
    assert header == {"matchers": [{"headers": [{"name": "z", "value": "1"}], "prefix": "/echo"}],
                      "routeAction": _to("v2", "echo", "echo")}
    assert [d["weight"] for d in main["routeAction"]["multi"]["destinations"]] == [70, 30]


def test_an_option_set_on_a_route_mid_rollout_reaches_its_twin_at_the_next_write():
    routes = rewrite(STABLE_TABLE, SHOP, recognise(STABLE_TABLE, "shop", SHOP), STATES[1])
    routes[5]["options"] = {"timeout": "1s"}
    managed = recognise(_rt(routes), "shop", SHOP)
    assert managed.state == STATES[1]
    again = rewrite(_rt(routes), SHOP, managed, STATES[2])
    assert again[4]["options"] == again[5]["options"] == {"timeout": "1s"}


def test_relative_weights_are_read_as_a_share():
    routes = rewrite(STABLE_TABLE, SHOP, recognise(STABLE_TABLE, "shop", SHOP), STATES[2])
    for route in (routes[2], routes[5]):
        for dest, weight in zip(route["routeAction"]["multi"]["destinations"], (1, 3), strict=True):
            dest["weight"] = weight
    assert recognise(_rt(routes), "shop", SHOP).state.weight == 75


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ([ADMIN, MAIN], [1]),
        ([ADMIN, {"routeAction": _to("v1", "shop", "")}], [1]),  # an upstream without namespace: the table's own
        ([{"routeAction": {"multi": {"destinations": [{"destination": _to("v1")["single"], "weight": 1}]}}}], [0]),
        ([{"routeAction": _to("v1", "shop", "other")}], []),
        ([STATIC], []),
    ],
)
def test_routes_to_finds_every_route_that_sends_to_the_upstream(routes, expected):
    assert routes_to(_rt(routes), SHOP) == expected


def test_a_route_to_the_service_through_another_action_is_not_touched():
    group = {**MAIN, "routeAction": {"upstreamGroup": {"name": "g"}}}
    rt = _rt([group, MAIN])
    assert rewrite(rt, SHOP, recognise(rt, "shop", SHOP), STATES[1])[0] == group


def test_adoption_sends_only_unsubsetted_routes_to_the_upstream_to_the_version():
    plain = copy.deepcopy(MAIN)
    plain["routeAction"] = {"single": {"upstream": {"name": "shop", "namespace": "shop"}}}
    routes, changed = set_versions(_rt([ADMIN, plain, STATIC]), SHOP, "v1")
    assert routes == [ADMIN, MAIN, STATIC] and changed == ["/shop"]


def _weighted(edit):
    routes = rewrite(STABLE_TABLE, SHOP, recognise(STABLE_TABLE, "shop", SHOP), STATES[2])
    edit(routes)
    return _rt(routes)


@pytest.mark.parametrize(
    ("rt", "found"),
    [
        (_rt([ADMIN, STATIC]), "no route sends traffic to Upstream shop/shop"),
        (_rt([ADMIN, MAIN, {**API, "routeAction": _to("v9")}]),
         "routes /shop and /shop/api [x-tenant=a] (api) disagree"),
        (_rt([{**MAIN, "routeAction": {"single": {"upstream": {"name": "shop"},
                                                  "subset": {"values": {"zone": "a"}}}}}]),
         "expected only 'version'"),
        (_weighted(lambda r: r[5]["matchers"][0].update(prefix="/other")), "without the header route"),
        (_weighted(lambda r: r[5]["routeAction"]["multi"]["destinations"].pop()), "splits traffic 1 ways"),
        (_weighted(lambda r: [d.update(weight=0) for d in r[2]["routeAction"]["multi"]["destinations"]]),
         "send no traffic"),
        (_weighted(lambda r: r[5]["routeAction"]["multi"]["destinations"][1].update(options={"x": {}})),
         "weighted destination with fields ['options']"),
        (_weighted(lambda r: r[5]["routeAction"]["multi"]["destinations"][1]["destination"]["upstream"].update(
            name="other")), "between Upstream shop/shop and another destination"),
        (_weighted(lambda r: r[4]["matchers"][0]["headers"][0].update(value="beta")), "disagree"),
    ],
)
def test_hand_edited_shapes_are_refused_saying_what_was_found(rt, found):
    with pytest.raises(UnmanagedShape) as err:
        recognise(rt, "shop", SHOP)
    assert found in str(err.value)
    assert str(err.value).startswith("RouteTable shop/shop-routes is not in a shape kubectl-canary manages")


def test_a_route_without_a_version_subset_says_to_adopt_the_service():
    rt = _rt([{"matchers": [{"prefix": "/shop"}], "routeAction": {"single": {"upstream": {"name": "shop"}}}}])
    with pytest.raises(UnmanagedShape, match=r"without a version subset; .*`kubectl canary adopt shop --version V`"):
        recognise(rt, "shop", SHOP)
