"""Mutation as a pure function: weights to 100, the apiGroup label, warnings, patches, idempotence."""

from __future__ import annotations

import copy

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whrules import mutate
from whsupport import NS, context, dest, multi, namespace, routetable, single, weighted, weights_of

from webhook.admission.decision import Settings
from webhook.admission.mutation import largest_remainder, normalised


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ((33, 33, 33), [34, 33, 33]),
        ((1, 3), [25, 75]),
        ((1, 1, 1), [34, 33, 33]),
        ((2, 2, 2, 2, 2, 2), [17, 17, 17, 17, 16, 16]),
        ((1, 2), [33, 67]),
        ((0, 5), [0, 100]),
        ((200, 200), [50, 50]),
        ((1, 1, 1, 1, 1, 1, 1), [15, 15, 14, 14, 14, 14, 14]),
        ((10**9, 1), [100, 0]),
    ],
)
def test_largest_remainder_gives_exactly_100_with_ties_to_the_earlier(weights, expected):
    assert largest_remainder(weights) == expected


@settings(deadline=None, database=None)
@given(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 2**32 - 1)), min_size=1, max_size=30).filter(any))
def test_largest_remainder_sums_to_100_and_each_share_is_within_one_of_the_exact(weights):
    got = largest_remainder(weights)
    assert sum(got) == 100 and len(got) == len(weights)
    whole = sum(weights)
    # each is its exact share rounded down or up: |got * whole - w * 100| < whole
    assert all(abs(g * whole - w * 100) < whole for g, w in zip(got, weights, strict=True))


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # the seed's rule for anyone who writes only the canary weight
        ((None, 30), ([70, 30], "filled")),
        ((30, None), ([30, 70], "filled")),
        ((None, 0), ([100, 0], "filled")),
        ((None, 60, 30), ([10, 60, 30], "filled")),
        # two missing: not the one-missing rule; the rest is scaled
        ((None, None, 30), ([0, 0, 100], "normalised")),
        # the others exceed 100: scaled, the missing one stays at 0
        ((None, 150, 50), ([0, 75, 25], "normalised")),
        ((33, 33, 33), ([34, 33, 33], "normalised")),
        ((1, 3), ([25, 75], "normalised")),
        # already 100 (a missing weight counts as 0, as in Gloo): nothing to do
        ((50, 50), None),
        ((None, 100), None),
        ((100, None, None), None),
        # total 0 is left for validation to reject
        ((0, 0), None),
        ((None, None), None),
        # a negative weight is left for validation to name
        ((-1, 101), None),
        ((), None),
    ],
)
def test_normalised(weights, expected):
    assert normalised(weights) == expected


def _mutated(obj, objects=(), **kw):
    verdict = mutate(context(obj, objects, **kw))
    result = jsonpatch.apply_patch(obj, list(verdict.patch)) if verdict.patch else obj
    return verdict, result


@pytest.mark.parametrize(
    ("weights", "after", "warning"),
    [
        ([33, 33, 33], [34, 33, 33], "route /echo: weights 33,33,33 normalised to 34,33,33"),
        ([1, 3], [25, 75], "route /echo: weights 1,3 normalised to 25,75"),
        ([None, 20], [80, 20], "route /echo: weights -,20 filled to 80,20"),
        ([0, 0], [0, 0], None),
        ([70, 30], [70, 30], None),
    ],
)
def test_weights_are_patched_and_reported(weights, after, warning):
    rt = routetable([weighted(weights)], labels={"apiGroup": "example"})
    verdict, result = _mutated(rt)
    assert weights_of(result) == after
    assert verdict.allowed
    if warning is None:
        assert verdict.patch == () and verdict.warnings == ()
    else:
        assert verdict.warnings == (warning,)
        assert verdict.decision == "patched"


def test_every_multi_route_is_handled_and_singles_are_left_alone():
    rt = routetable(
        [single(dest("v2"), headers=[("stage", "canary")]), weighted([1, 1], "/a"), weighted([10, 90], "/b"),
         weighted([3, 1], "/c")],
        labels={"apiGroup": "g"},
    )
    verdict, result = _mutated(rt)
    assert [weights_of(result, i) for i in (1, 2, 3)] == [[50, 50], [10, 90], [75, 25]]
    assert result["spec"]["routes"][0] == rt["spec"]["routes"][0]
    assert len(verdict.warnings) == 2


@pytest.mark.parametrize(
    ("labels", "ns_group", "default", "expected", "warning"),
    [
        (None, "team-a", None, {"apiGroup": "team-a"}, "label apiGroup=team-a added (from Namespace echo)"),
        (None, "team-a", "fallback", {"apiGroup": "team-a"}, "label apiGroup=team-a added (from Namespace echo)"),
        (None, None, "fallback", {"apiGroup": "fallback"}, "label apiGroup=fallback added (the webhook's default)"),
        (None, None, None, None, None),
        # label keys with '/' must survive the JSON Patch (escaped as ~1)
        ({"app.kubernetes.io/managed-by": "kubectl-canary"}, "team-a", None,
         {"app.kubernetes.io/managed-by": "kubectl-canary", "apiGroup": "team-a"},
         "label apiGroup=team-a added (from Namespace echo)"),
        # an explicit label is never overwritten
        ({"apiGroup": "mine"}, "team-a", "fallback", {"apiGroup": "mine"}, None),
        # an empty labels map
        ({}, None, "fallback", {"apiGroup": "fallback"}, "label apiGroup=fallback added (the webhook's default)"),
    ],
)
def test_api_group_label(labels, ns_group, default, expected, warning):
    rt = routetable([single(dest("v1"))], labels=labels)
    verdict, result = _mutated(rt, [namespace(NS, ns_group)], settings=Settings(default_api_group=default))
    assert result["metadata"].get("labels") == expected
    assert verdict.warnings == ((warning,) if warning else ())


def test_a_create_without_metadata_namespace_uses_the_request_namespace():
    rt = routetable([single(dest("v1"))], namespace=None)
    _verdict, result = _mutated(rt, [namespace("team", "team-group")], namespace="team")
    assert result["metadata"]["labels"] == {"apiGroup": "team-group"}
    assert "namespace" not in result["metadata"]  # only the label is patched


@pytest.mark.parametrize(
    "rt",
    [
        routetable([weighted([33, 33, 33]), weighted([None, 5], "/b")]),
        routetable([weighted([1, 3])], labels={"a/b": "c"}),
        routetable([weighted([0, 0])]),
        routetable([single(dest("v1"))], labels={}),
    ],
)
def test_mutation_is_idempotent(rt):
    objects = [namespace(NS, "team-a")]
    _first, once = _mutated(rt, objects)
    second, twice = _mutated(once, objects)
    assert second.patch == () and second.warnings == ()
    assert twice == once


def test_the_patch_is_what_the_mutators_changed_and_leaves_the_request_object_alone():
    rt = routetable([weighted([1, 3]), weighted([25, 75], prefix="/fine")])
    before = copy.deepcopy(rt)
    verdict, _ = _mutated(rt, [namespace(NS, "g")])
    assert rt == before
    # one operation per change: the label, and the weights rewritten (the route already at 100 is left alone)
    assert [(op["op"], op["path"]) for op in verdict.patch] == [
        ("add", "/metadata/labels"),
        ("replace", "/spec/routes/0/routeAction/multi/destinations/0/weight"),
        ("replace", "/spec/routes/0/routeAction/multi/destinations/1/weight"),
    ]


def test_an_update_that_leaves_the_routing_alone_keeps_its_weights():
    rt = routetable([weighted([1, 3])], labels={"apiGroup": "g"})
    old = copy.deepcopy(rt)
    rt["metadata"]["annotations"] = {"note": "x"}
    _verdict, result = _mutated(rt, [namespace(NS, "g")], operation="UPDATE", old=old)
    assert weights_of(result) == [1, 3]


@pytest.mark.parametrize("old_labels", [None, {"apiGroup": "other"}], ids=["labelled-now", "relabelled"])
def test_an_update_that_gets_or_changes_the_label_is_normalised_too(old_labels):
    # A status write to a RouteTable that predates the webhook: the label it gets makes validation judge
    # it, so mutation normalises what validation requires (and the write is not stuck).
    rt = routetable([weighted([1, 3])], labels={"apiGroup": "g"} if old_labels else None)
    old = routetable([weighted([1, 3])], labels=old_labels)
    _verdict, result = _mutated(rt, [namespace(NS, "g")], operation="UPDATE", old=old)
    assert weights_of(result) == [25, 75]
    assert result["metadata"]["labels"] == {"apiGroup": "g"}


def test_an_update_that_changes_spec_is_mutated():
    old = routetable([weighted([50, 50])], labels={"apiGroup": "g"})
    rt = routetable([weighted([1, 3])], labels={"apiGroup": "g"})
    _, result = _mutated(rt, operation="UPDATE", old=old)
    assert weights_of(result) == [25, 75]


@pytest.mark.parametrize(
    ("obj", "operation", "kind"),
    [
        (routetable([weighted([1, 3])]), "DELETE", ("gateway.solo.io", "v1", "RouteTable")),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": NS}},
         "CREATE", ("apps", "v1", "Deployment")),
        (routetable([weighted([1, 3])]), "CREATE", ("gateway.solo.io", "v1", "VirtualService")),
    ],
)
def test_other_kinds_and_operations_are_untouched(obj, operation, kind):
    is_delete = operation == "DELETE"
    verdict = mutate(context(None if is_delete else obj, [namespace(NS, "g")], operation=operation,
                             old=obj if is_delete else None, kind=kind))
    assert verdict.allowed and verdict.patch == () and verdict.warnings == ()


def test_destinations_without_subset_or_with_nested_namespaces_are_weighted_too():
    rt = routetable([multi([(dest(None, namespace=None), 1), (dest("v2", name="other", namespace="gloo-system"), 1)])])
    _, result = _mutated(rt, settings=Settings(default_api_group="g"))
    assert weights_of(result) == [50, 50]


def test_a_mutation_that_changes_nothing_gives_no_patch():
    verdict = mutate(context(routetable([weighted([25, 75])], labels={"apiGroup": "g"}), [namespace(NS, "g")]))
    assert (verdict.decision, verdict.patch, verdict.warnings) == ("allowed", (), ())


def test_routes_with_the_same_weights_get_one_warning_counting_the_rest():
    routes = [weighted([1, 3], prefix=f"/echo/{i}") for i in range(1000)] + [weighted([1, 1], prefix="/other")]
    verdict = mutate(context(routetable(routes, labels={"apiGroup": "g"}), [namespace(NS, "g")]))
    assert verdict.warnings == (
        "route /echo/0 and 999 more like it: weights 1,3 normalised to 25,75",
        "route /other: weights 1,1 normalised to 50,50",
    )
    assert len(verdict.patch) == 2002  # every weight is still rewritten
    assert verdict.mutated["spec"]["routes"][999]["routeAction"]["multi"]["destinations"][1]["weight"] == 75
