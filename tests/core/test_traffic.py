"""What a RouteTable routes: the analyses the policy checks are made of (weight steps, header phase,
prefixes, references)."""

from __future__ import annotations

import pytest

from kubectl_canary.core.policy import expand
from kubectl_canary.core.reach import PathClaim, Reference, claims, outside, references, under
from kubectl_canary.core.traffic import (
    Routing,
    Shift,
    Target,
    Unphased,
    route_key,
    shifts,
    steps_over,
    unphased,
)
from tests.core.policies import dest, header, route, rt, single, split

# -- prefixes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "ns", "expanded"),
    [("/{namespace}", "shop", "/shop"), ("/api/{namespace}/v1", "a", "/api/a/v1"), ("/static", "a", "/static"),
     ("/{namespace}-{namespace}", "a", "/a-a")],
)
def test_namespace_expansion(prefix, ns, expanded):
    assert expand(prefix, ns) == expanded


@pytest.mark.parametrize(
    ("path", "prefix", "allowed"),
    [
        ("/echo", "/echo", True),
        ("/echo/", "/echo", True),
        ("/echo/x/y", "/echo", True),
        ("/echoes", "/echo", False),  # whole segments only
        ("/ech", "/echo", False),
        ("/", "/echo", False),
        ("/other/echo", "/echo", False),
        ("/anything", "/", True),
        ("/echo/x", "/echo/", True),
        ("/echo", "/echo/", False),  # a route prefix /echo would also take /echoes
        ("/Echo", "/echo", False),
    ],
)
def test_prefixes_match_whole_path_segments(path, prefix, allowed):
    assert under(path, prefix) is allowed


@pytest.mark.parametrize(
    ("matchers", "found"),
    [
        ([{"prefix": "/echo"}], [("prefix", "/echo")]),
        ([{"exact": "/echo/health"}], [("exact", "/echo/health")]),
        ([{"regex": "/echo/.*"}], [("regex", "/echo/.*")]),
        ([], [("prefix", "/")]),  # Gloo: a route without matchers matches /
        ([{"headers": [{"name": "a", "value": "b"}]}], [("prefix", "/")]),
        ([{"prefix": "/a"}, {"exact": "/b"}], [("prefix", "/a"), ("exact", "/b")]),
    ],
)
def test_claims_name_every_path_a_route_matches(matchers, found):
    table = rt({"matchers": matchers, "routeAction": {"single": dest("v1")}})
    assert [(c.kind, c.path) for c in claims(table)] == found


@pytest.mark.parametrize(
    ("kind", "path", "allowed", "is_outside"),
    [
        ("prefix", "/shop/echo", ("/shop",), False),
        ("prefix", "/shopping", ("/shop",), True),
        ("exact", "/shop", ("/shop",), False),
        ("exact", "/shared/x", ("/shop", "/shared"), False),
        ("exact", "/other", ("/shop",), True),
        ("regex", "/shop/.*", ("/shop",), True),  # cannot be proven to stay under /shop
        ("regex", "/shop/.*", ("/",), True),
        ("prefix", "/shop", (), True),  # an empty list allows nothing
    ],
)
def test_outside_the_allowed_prefixes(kind, path, allowed, is_outside):
    assert outside(PathClaim("r", kind, path), allowed) is is_outside


# -- weight steps ---------------------------------------------------------------------------------


V1, V2, V3 = (Target("Upstream shop/echo", (("version", v),)) for v in ("v1", "v2", "v3"))


@pytest.mark.parametrize(
    ("old", "new", "limit", "expected"),
    [
        # finish from 20%: both versions move 80 points; the one that gains is named
        (rt(header("v2"), split({"v1": 80, "v2": 20})), rt(single("v2")), 25, [Shift("/echo", V2, 20, 100)]),
        (rt(split({"v1": 80, "v2": 20})), rt(split({"v1": 55, "v2": 45})), 25, []),  # exactly 25: allowed
        (rt(split({"v1": 80, "v2": 20})), rt(split({"v1": 54, "v2": 46})), 25, [Shift("/echo", V2, 20, 46)]),
        # abort from 50% is a step of 50 as well
        (rt(split({"v1": 50, "v2": 50})), rt(single("v1")), 25, [Shift("/echo", V1, 50, 100)]),
        # relative weights are shares: 1,3 is 25/75
        (rt(split({"v1": 1, "v2": 3})), rt(split({"v1": 75, "v2": 25})), 25, [Shift("/echo", V1, 25, 75)]),
        # header-matched routes carry no share of the non-header traffic
        (rt(header("v2"), single("v1")), rt(header("v3"), single("v1")), 1, []),
        # a route that is new is not a shift; routes are paired by their matchers, whatever their names
        (rt(single("v1")), rt(single("v1"), single("v2", prefix="/new")), 1, []),
        (rt(single("v1", name="a")), rt(single("v2", name="b")), 10, [Shift("/echo (b)", V2, 0, 100)]),
        # the first of two routes with the same matchers takes the requests
        (rt(single("v1"), single("v2")), rt(single("v1"), single("v3")), 1, []),
        # a version that replaces another in a multi
        (rt(split({"v1": 90, "v2": 10})), rt(split({"v1": 90, "v3": 10})), 5, [Shift("/echo", V3, 0, 10)]),
        # one problem per route, each route on its own
        (rt(single("v1"), single("v1", prefix="/b")), rt(single("v2"), single("v2", prefix="/b")), 50,
         [Shift("/echo", V2, 0, 100), Shift("/b", V2, 0, 100)]),
    ],
)
def test_steps_over_the_limit(old, new, limit, expected):
    assert steps_over(Routing(old), Routing(new), limit) == expected


def _with_matcher(route_: dict, **fields) -> dict:
    return {**route_, "matchers": [{**route_["matchers"][0], **fields}]}


@pytest.mark.parametrize(
    "fields",
    [{"caseSensitive": True}, {"methods": []}, {"headers": []}, {"queryParameters": []}, {"caseSensitive": None},
     {"caseSensitive": True, "methods": [], "headers": [], "queryParameters": []}],
)
def test_routes_pair_by_normalised_matchers_so_defaults_cannot_bypass_the_step(fields):
    # maxWeightStep 10: 80/20 -> 0/100 is a step of 80 however the matcher spells its defaults
    old, new = rt(split({"v1": 80, "v2": 20})), rt(_with_matcher(split({"v1": 0, "v2": 100}), **fields))
    assert steps_over(Routing(old), Routing(new), 10) == [Shift("/echo", V2, 20, 100)]
    assert steps_over(Routing(new), Routing(old), 10) == [Shift("/echo", V1, 0, 80)]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"prefix": "/echo", "caseSensitive": True}, {"prefix": "/echo"}, True),
        ({"prefix": "/echo", "caseSensitive": False}, {"prefix": "/echo"}, False),
        ({"prefix": "/echo", "methods": ["GET"]}, {"prefix": "/echo"}, False),
        ({"prefix": "/echo", "headers": [{"name": "a", "value": "b"}]}, {"prefix": "/echo", "headers": []}, False),
        ({"prefix": "/echo"}, {"exact": "/echo"}, False),
        ({}, None, True),  # no matchers and an empty matcher both match /
    ],
)
def test_route_keys(a, b, same):
    first = {"matchers": [a]}
    second = {"matchers": [b]} if b is not None else {}
    assert (route_key(first) == route_key(second)) is same


def test_shifts_list_every_change_and_skip_unusable_weights():
    assert shifts(Routing(rt(split({"v1": 80, "v2": 20}))), Routing(rt(split({"v1": 70, "v2": 30})))) == [
        Shift("/echo", V1, 80, 70), Shift("/echo", V2, 20, 30)]
    # weights totalling 0 send nothing (Gloo refuses them): no shares to compare
    assert shifts(Routing(rt(split({"v1": 0, "v2": 0}))), Routing(rt(single("v2")))) == []
    assert Shift("/echo", V2, 20, 100).change == 80


# -- the header phase -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # CREATE: one version per route is the primary, whatever else
        (None, rt(single("v1")), []),
        (None, rt(split({"v1": 100, "v2": 0})), []),  # weight 0 is no traffic
        (None, rt(split({"v1": 80, "v2": 20})), [Unphased("/echo", V2, 20)]),
        (None, rt(split({"v1": 50, "v2": 50})), [Unphased("/echo", V2, 50)]),  # a tie: the first is primary
        (None, rt(header("v2"), split({"v1": 80, "v2": 20})), [Unphased("/echo", V2, 20)]),  # "had": before
        # the two-phase release: header route first, then weighted traffic
        (rt(single("v1")), rt(header("v2"), split({"v1": 100, "v2": 0})), []),
        (rt(header("v2"), split({"v1": 100, "v2": 0})), rt(header("v2"), split({"v1": 80, "v2": 20})), []),
        (rt(header("v2"), split({"v1": 80, "v2": 20})), rt(single("v2")), []),  # finish
        (rt(header("v2"), split({"v1": 80, "v2": 20})), rt(single("v1")), []),  # abort
        # skipping the header phase
        (rt(single("v1")), rt(split({"v1": 70, "v2": 30})), [Unphased("/echo", V2, 30)]),
        (rt(single("v1")), rt(single("v2")), [Unphased("/echo", V2, 100)]),  # a big-bang switch
        (rt(header("v2"), single("v1")), rt(header("v2"), split({"v1": 70, "v3": 30})), [Unphased("/echo", V3, 30)]),
        # a header route with weight 0 to the version does not count as a header phase
        (rt(route({"multi": {"destinations": [{"destination": dest("v2"), "weight": 0},
                                              {"destination": dest("v1"), "weight": 1}]}},
                  headers={"stage": "canary"}), single("v1")),
         rt(split({"v1": 70, "v2": 30})), [Unphased("/echo", V2, 30)]),
        # a route to an Upstream the old RouteTable never named is a new service: its primary is free
        (rt(single("v1")), rt(single("v1"), route({"single": dest("v1", "cart")}, prefix="/cart")), []),
        (rt(single("v1")), rt(single("v1"), route({"multi": {"destinations": [
            {"destination": dest("v1", "cart"), "weight": 60}, {"destination": dest("v2", "cart"), "weight": 40}]}},
            prefix="/cart")), [Unphased("/cart", Target("Upstream shop/cart", (("version", "v2"),)), 40)]),
    ],
)
def test_unphased_versions(old, new, expected):
    assert unphased(old and Routing(old), Routing(new)) == expected


def test_a_route_whose_every_matcher_has_headers_is_a_header_route():
    # Matchers are ORed: a second matcher without headers lets every request of /echo through.
    mixed = {"matchers": [{"prefix": "/echo", "headers": [{"name": "a", "value": "b"}]}, {"prefix": "/echo"}],
             "routeAction": {"single": dest("v2")}}
    new = Routing(rt(mixed, single("v1", prefix="/x")))
    assert unphased(Routing(rt(single("v1"))), new) == [Unphased("/echo [a=b]", V2, 100)]


def test_an_inverted_header_matcher_is_no_header_phase():
    # invertMatch takes every request *without* the header: v2 got all the traffic, not a header-matched phase
    inverted = {"matchers": [{"prefix": "/echo",
                              "headers": [{"name": "stage", "value": "canary", "invertMatch": True}]}],
                "routeAction": {"single": dest("v2")}}
    assert unphased(Routing(rt(single("v1"))), Routing(rt(inverted, single("v1", prefix="/x")))) == [
        Unphased("/echo [stage=canary]", V2, 100)]
    # it had traffic: known
    assert unphased(Routing(rt(inverted, single("v1"))), Routing(rt(split({"v1": 70, "v2": 30})))) == []


# -- references -----------------------------------------------------------------------------------


def test_references_name_upstreams_services_and_groups_with_their_namespaces():
    table = rt(
        single("v1"),
        route({"multi": {"destinations": [{"destination": dest("v1", "echo", "other"), "weight": 1},
                                          {"destination": {"kube": {"ref": {"name": "svc", "namespace": "db"}}},
                                           "weight": 1},
                                          {"destination": {"kube": {"ref": {"name": "local"}}}, "weight": 1}]}},
              prefix="/m"),
        route({"upstreamGroup": {"name": "g", "namespace": "shared"}}, prefix="/g"),
        route({"single": {"consul": {"serviceName": "x"}}}, prefix="/c"),
    )
    assert [str(r) for r in references(table)] == [
        "Upstream shop/echo", "Upstream other/echo", "Service db/svc", "Service shop/local", "UpstreamGroup shared/g"]
    assert references(rt(single("v1"), single("v2")))[0] == Reference("/echo", "Upstream", "shop", "echo")
    assert len(references(rt(split({"v1": 50, "v2": 50})))) == 1  # once per route


@pytest.mark.parametrize(
    ("target", "shown"),
    [(V2, "v2"), (Target("Upstream a/b", (("app", "x"), ("version", "v1"))), "app=x,version=v1"),
     (Target("Upstream a/b"), "Upstream a/b"), (Target(""), "a destination without an Upstream")],
)
def test_targets_as_messages_name_them(target, shown):
    assert str(target) == shown

