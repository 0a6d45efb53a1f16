"""Properties of the pure decisions (Hypothesis): over generated RouteTables, odd ones included, and
CREATEs and UPDATEs, with and without platform policy, no input raises; a mutation's patch applies and
gives valid JSON; mutating the result again changes nothing; and what /mutate admits with a patch,
/validate admits too once patched (mutation never turns an allowed object into a denied one)."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whrules import mutate, validate
from whsupport import cluster, namespace

from kubectl_canary.core.kinds import Obj
from webhook.admission.decision import Context, Settings
from webhook.admission.review import Review, parse_document
from webhook.cluster.memo import Memo
from webhook.cluster.state import StateLookup

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**33) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
HUGE = int("9" * 4300)
WEIGHT = st.one_of(st.none(), st.integers(-2, 120), st.sampled_from([0, 2**32 - 1, 2**32, HUGE]))


def odd(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy`, or now and then any JSON value in its place (the mutating webhook sees unchecked objects)."""
    return st.one_of(strategy, strategy, strategy, JSON)


DESTINATION = st.builds(
    lambda name, version, ns: {"upstream": {"name": name, **({"namespace": ns} if ns else {})},
                               **({"subset": {"values": {"version": version}}} if version else {})},
    st.sampled_from(["echo", "gone"]), st.sampled_from(["v1", "v2", "v7", None]), st.sampled_from(["echo", None]),
)
ENTRY = st.builds(lambda d, w: {"destination": d, **({} if w is None else {"weight": w})}, odd(DESTINATION), WEIGHT)
ACTION = st.one_of(
    st.builds(lambda d: {"single": d}, odd(DESTINATION)),
    st.builds(lambda e: {"multi": {"destinations": e}}, st.lists(odd(ENTRY), max_size=4)),
)
MATCHERS = st.lists(st.fixed_dictionaries({"prefix": st.sampled_from(["/echo", "/x", "/"])},
                                          optional={"headers": st.just([{"name": "stage", "value": "canary"}])}),
                    max_size=2)
ROUTE = st.fixed_dictionaries({"routeAction": odd(ACTION)}, optional={"matchers": MATCHERS, "options": JSON})
LABELS = st.one_of(st.none(), st.just({"apiGroup": "g"}), st.just({"apiGroup": "other"}), st.just({"team": "a"}))


@st.composite
def routetables(draw: st.DrawFn) -> Obj:
    meta: Obj = {"name": "rt", "namespace": "echo"}
    labels = draw(LABELS)
    if labels is not None:
        meta["labels"] = labels
    rt: Obj = {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable", "metadata": odd(st.just(meta)),
               "spec": {"routes": draw(st.lists(odd(ROUTE), max_size=4))}}
    rt["metadata"] = draw(rt["metadata"])
    if draw(st.booleans()):
        rt["status"] = draw(JSON)
    return rt


POLICIES = st.sampled_from([
    [],
    [{"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": "p"},
      "spec": {"maxWeightStep": 25, "apiGroup": "g", "requireHeaderPhase": True, "prefixes": ["/echo"]}}],
])


@st.composite
def reviews(draw: st.DrawFn) -> tuple[Review, list[Obj], Settings]:
    new = draw(routetables())
    operation = draw(st.sampled_from(["CREATE", "UPDATE"]))
    old = None
    if operation == "UPDATE":
        # an UPDATE of an unrelated object, or a status or label write to the same one
        old = draw(st.one_of(routetables(), st.just(json.loads(json.dumps(new)))))
        if draw(st.booleans()) and isinstance(old, dict):
            new = {**json.loads(json.dumps(old)), "status": {"written": True}}
    request = {"uid": "u", "kind": {"group": "gateway.solo.io", "version": "v1", "kind": "RouteTable"},
               "namespace": "echo", "name": "rt", "operation": operation, "object": new, "oldObject": old}
    review = parse_document({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    objects = [*cluster(), namespace("echo", "g") if draw(st.booleans()) else namespace("echo"), *draw(POLICIES)]
    return review, objects, Settings(default_api_group=draw(st.sampled_from([None, "fallback"])))


def decide(review: Review, objects: list[Obj], config: Settings) -> tuple[Any, Any]:
    lookup = StateLookup(objects)
    mutated = mutate(Context(review, Memo(lookup), config))
    validated = validate(Context(review, Memo(lookup), config))
    return mutated, validated


def with_object(review: Review, obj: Obj) -> Review:
    from dataclasses import replace

    return replace(review, obj=obj)


# No example database: nothing is written into the worktree, and each run explores afresh. The number of
# examples comes from the Hypothesis profile (tests/conftest.py): 300, or 100 in `make test-fast`.
PROPERTY = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(reviews())
def test_no_input_raises_and_the_patch_applies_as_valid_json(case):
    review, objects, config = case
    mutated, validated = decide(review, objects, config)
    # the verdict follows its problems (the settings enforce): refused exactly when one of them denies,
    # and the answer kube-apiserver reads says so, with the reason a user sees
    denying = [p for p in validated.problems if p.deny and not p.recorded_only]
    assert validated.allowed is (not denying)
    answer = validated.to_response("u")["response"]
    assert answer["allowed"] is validated.allowed
    if denying:
        assert answer["status"]["code"] == 403 and answer["status"]["message"] == validated.message
        assert validated.message and denying[0].message[:40] in validated.message
    if not mutated.patch:
        return
    patched = jsonpatch.apply_patch(review.obj, list(mutated.patch))
    assert patched == mutated.mutated
    assert json.loads(json.dumps(patched, allow_nan=False)) == patched


@PROPERTY
@given(reviews())
def test_mutating_twice_changes_nothing_the_second_time(case):
    review, objects, config = case
    first, _ = decide(review, objects, config)
    if not first.patch:
        return
    again, _ = decide(with_object(review, first.mutated), objects, config)
    assert again.allowed and again.patch == ()


@PROPERTY
@given(reviews())
def test_what_mutation_admits_validation_judges_no_worse_once_patched(case):
    review, objects, config = case
    mutated, validated = decide(review, objects, config)
    if not mutated.allowed or not mutated.patch:
        return
    _, after = decide(with_object(review, mutated.mutated), objects, config)
    if validated.allowed:
        assert after.allowed, (validated, after)
    # whatever the patched object is denied for, it is not weights mutation would have normalised (when its
    # entries are objects: kube-apiserver's schema refuses other ones before it calls /validate)
    if all(isinstance(e, dict) for e in _entries(mutated.mutated)):
        assert not any(p.reason == "weights-total" and p.deny for p in after.problems), after


def _entries(rt: Obj) -> list[Any]:
    spec = rt.get("spec") if isinstance(rt.get("spec"), dict) else {}
    found = []
    for route in spec.get("routes") or []:
        action = route.get("routeAction") if isinstance(route, dict) else None
        multi = action.get("multi") if isinstance(action, dict) else None
        entries = multi.get("destinations") if isinstance(multi, dict) else None
        found += entries if isinstance(entries, list) else []
    return found
