"""Rendering a service's routes from a state, and recognising them back (or refusing hand-edited shapes)."""

from __future__ import annotations

import copy

import pytest

from kubectl_canary.core.errors import UnmanagedShape
from kubectl_canary.core.routes import RouteState, recognise, render

STATES = [
    RouteState("/echo", "v1"),
    RouteState("/echo", "v1", "v2", 0, (("stage", "canary"),)),
    RouteState("/echo", "v1", "v2", 50, (("stage", "canary"),)),
    RouteState("/api/echo", "v3", "v4", 100, (("a", "1"), ("b", "2"))),
]


def _rt(routes, namespace="echo"):
    return {"metadata": {"name": "echo-routes", "namespace": namespace}, "spec": {"routes": routes}}


@pytest.mark.parametrize(
    ("state", "phase", "versions"),
    [(STATES[0], "stable", ("v1",)), (STATES[1], "header", ("v1", "v2")), (STATES[2], "weighted", ("v1", "v2"))],
)
def test_phase_follows_canary_and_weight(state, phase, versions):
    assert state.phase == phase and state.versions() == versions


@pytest.mark.parametrize("state", STATES)
def test_recognise_reads_back_what_render_writes(state):
    assert recognise(_rt(render("echo", "echo", state)), "echo") == state


def test_render_stable_is_one_single_route():
    assert render("echo", "echo", STATES[0]) == [
        {"matchers": [{"prefix": "/echo"}],
         "routeAction": {"single": {"upstream": {"name": "echo", "namespace": "echo"},
                                    "subset": {"values": {"version": "v1"}}}}}
    ]


def test_render_canary_weights_sum_to_100_and_headers_are_sorted():
    header, main = render("echo", "echo", RouteState("/echo", "v1", "v2", 30, (("z", "1"), ("a", "2"))))
    assert header["matchers"][0]["headers"] == [{"name": "a", "value": "2"}, {"name": "z", "value": "1"}]
    assert [d["weight"] for d in main["routeAction"]["multi"]["destinations"]] == [70, 30]


def test_recognise_reads_relative_weights_as_a_share():
    routes = render("echo", "echo", STATES[2])
    for dest, weight in zip(routes[1]["routeAction"]["multi"]["destinations"], (1, 3), strict=True):
        dest["weight"] = weight
    assert recognise(_rt(routes), "echo").weight == 75


def _edited(state, edit):
    routes = copy.deepcopy(render("echo", "echo", state))
    edit(routes)
    return _rt(routes)


@pytest.mark.parametrize(
    ("rt", "found"),
    [
        (_rt([]), "0 routes, expected 1 or 2"),
        (_edited(STATES[0], lambda r: r.append(r[0])), "lacks a header matcher"),
        (_edited(STATES[0], lambda r: r[0].update(options={"timeout": "1s"})), "fields ['options']"),
        (_edited(STATES[0], lambda r: r[0]["matchers"].append({"prefix": "/x"})), "2 matchers, expected 1"),
        (_edited(STATES[0], lambda r: r[0]["matchers"].__setitem__(0, {"exact": "/echo"})), "expected a prefix"),
        (_edited(STATES[0], lambda r: r[0]["routeAction"]["single"]["upstream"].update(name="other")),
         "not to Upstream echo"),
        (_edited(STATES[0], lambda r: r[0]["routeAction"]["single"]["upstream"].update(namespace="gloo-system")),
         "names Upstream gloo-system/echo"),
        (_edited(STATES[0], lambda r: r[0]["routeAction"]["single"]["subset"]["values"].update(zone="a")),
         "expected only 'version'"),
        (_edited(STATES[0], lambda r: r[0].update(routeAction={"delegateAction": {}})), "expected single"),
        (_edited(STATES[2], lambda r: r[1]["matchers"][0].update(prefix="/other")), "different prefixes"),
        (_edited(STATES[2], lambda r: r[1]["routeAction"]["multi"]["destinations"].pop()),
         "not a multi route with two destinations"),
        (_edited(STATES[2], lambda r: r[0]["routeAction"]["single"]["subset"]["values"].update(version="v9")),
         "name different versions"),
        (_edited(STATES[2], lambda r: [d.update(weight=0) for d in r[1]["routeAction"]["multi"]["destinations"]]),
         "send no traffic"),
        (_edited(STATES[2], lambda r: r[0]["matchers"][0]["headers"][0].update(invertMatch=True)),
         "header matcher with fields ['invertMatch', 'name', 'value'], expected name and value"),
        (_edited(STATES[2], lambda r: r[0]["matchers"][0]["headers"][0].update(regex=True)),
         "header matcher with fields ['name', 'regex', 'value']"),
        (_edited(STATES[2], lambda r: r[0]["matchers"][0]["headers"][0].pop("value")),
         "header matcher with fields ['name'], expected name and value"),
        (_edited(STATES[2], lambda r: r[1]["routeAction"]["multi"]["destinations"][1].update(
            options={"headerManipulation": {}})), "weighted destination with fields ['options']"),
        (_edited(STATES[2], lambda r: r[1]["routeAction"]["multi"]["destinations"][0].update(name="x")),
         "weighted destination with fields ['name']"),
    ],
)
def test_hand_edited_shapes_are_refused_saying_what_was_found(rt, found):
    with pytest.raises(UnmanagedShape) as err:
        recognise(rt, "echo")
    assert found in str(err.value)
    assert str(err.value).startswith("RouteTable echo/echo-routes is not in a shape kubectl-canary manages")
