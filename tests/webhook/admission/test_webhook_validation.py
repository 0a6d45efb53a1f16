"""Validation as a pure function: destinations, subsets, Deployments, weights, Deployment DELETE."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest
from whrules import mutate, validate
from whsupport import (
    NS,
    admission_review,
    cluster,
    context,
    deployment,
    dest,
    multi,
    namespace,
    review,
    routetable,
    single,
    static_upstream,
    upstream,
    weighted,
)

from kubectl_canary.core.kinds import Obj
from webhook.admission.decision import Context, Settings
from webhook.app import create_app
from webhook.cluster.state import StateLookup

DEPLOYMENT_KIND = ("apps", "v1", "Deployment")
CANARY = [("stage", "canary")]


def verdict_for(rt: Obj, objects: Sequence[Obj], **kw):
    return validate(context(rt, objects, **kw))


def denial(rt: Obj, objects: Sequence[Obj], **kw) -> str | None:
    verdict = verdict_for(rt, objects, **kw)
    return None if verdict.allowed else verdict.message


@pytest.mark.parametrize(
    ("routes", "objects", "message"),
    [
        # the seed's phases are all fine
        ([single(dest("v1"))], cluster(), None),
        ([single(dest("v2"), headers=CANARY), weighted([100, 0])], cluster(), None),
        ([single(dest("v2"), headers=CANARY), weighted([50, 50])], cluster(), None),
        # a subset nobody serves, with the versions that are served
        ([single(dest("v3"))], cluster(),
         "route /echo -> echo/echo subset version=v3: no Deployment in namespace echo serves it; found v1, v2"),
        ([single(dest("v3"), headers=CANARY)], cluster(versions=("v10", "v2", "v1")),
         "route /echo [stage=canary] -> echo/echo subset version=v3: no Deployment in namespace echo serves it; "
         "found v1, v2, v10"),
        # no Upstream
        ([single(dest("v1", name="nope"))], cluster(),
         "route /echo -> echo/nope subset version=v1: Upstream echo/nope does not exist"),
        # an empty upstream namespace means the RouteTable's own
        ([single(dest("v1", namespace=None))], cluster(), None),
        ([single(dest("v1", namespace=""))], cluster(), None),
        # nested namespaces: Upstream in gloo-system, its service (and Deployments) in echo
        ([single(dest("v1", namespace="gloo-system"))], [*cluster(), upstream(namespace="gloo-system",
                                                                             service_namespace=NS)], None),
        ([single(dest("v3", namespace="gloo-system"))], [*cluster(), upstream(namespace="gloo-system",
                                                                             service_namespace=NS)],
         "route /echo -> gloo-system/echo subset version=v3: no Deployment in namespace echo serves it; found v1, v2"),
        # the Upstream's selector must match too
        ([single(dest("v1"))], [namespace(), upstream(), deployment("v1", app="other")],
         "route /echo -> echo/echo subset version=v1: no Deployment in namespace echo serves it; "
         "no Deployment there matches the Upstream's selector app=echo"),
        # Deployments in another namespace do not count
        ([single(dest("v1"))], [namespace(), upstream(), deployment("v1", namespace="elsewhere")],
         "route /echo -> echo/echo subset version=v1: no Deployment in namespace echo serves it; "
         "no Deployment there matches the Upstream's selector app=echo"),
        # an Upstream without subsetSpec ignores subsets: deny a route that relies on one
        ([single(dest("v1"))], [namespace(), upstream(keys=None), deployment("v1")],
         "route /echo -> echo/echo subset version=v1: Upstream echo/echo has no subsetSpec; "
         "Gloo would ignore the subset and use every version"),
        ([single(dest(None))], [namespace(), upstream(keys=None), deployment("v1")], None),
        # subset keys must equal one selector's keys
        ([single(dest("v1", zone="a"))], cluster(),
         "route /echo -> echo/echo subset version=v1,zone=a: Upstream echo/echo has no subset selector with keys "
         "[version,zone]; it has [version]"),
        ([single(dest("v1", zone="a"))],
         [namespace(), upstream(keys=[["version"], ["zone", "version"]]), deployment("v1", extra={"zone": "a"})],
         None),
        ([single(dest("v1", zone="b"))],
         [namespace(), upstream(keys=[["version", "zone"]]), deployment("v1", extra={"zone": "a"}),
          deployment("v2", extra={"zone": "a"})],
         "route /echo -> echo/echo subset version=v1,zone=b: no Deployment in namespace echo serves it; "
         "found version=v1,zone=a, version=v2,zone=a"),
        # Gloo gives pods "" for subset keys they lack
        ([single(dest("v1", zone=""))], [namespace(), upstream(keys=[["version", "zone"]]), deployment("v1")], None),
        # non-kube Upstreams: existence only; a subset would be ignored by Gloo
        ([single({"upstream": {"name": "static", "namespace": NS}})], [static_upstream()], None),
        ([single({"upstream": {"name": "static", "namespace": NS}, "subset": {"values": {"version": "v1"}}})],
         [static_upstream()],
         "route /echo -> echo/static subset version=v1: Upstream echo/static is not a kube Upstream and has no "
         "subsetSpec; Gloo would ignore the subset"),
        # destinations that name no Upstream (kube service refs) are Gloo's business
        ([single({"kube": {"ref": {"name": "echo", "namespace": NS}, "port": 80}})], [], None),
    ],
)
def test_routetable_destinations(routes, objects, message):
    assert denial(routetable(routes), objects) == message


def test_an_empty_upstream_namespace_resolves_to_the_routetables_own():
    rt = routetable([single(dest("v1", namespace=None))], namespace="team")
    assert denial(rt, cluster()) == "route /echo -> team/echo subset version=v1: Upstream team/echo does not exist"


def test_a_create_without_metadata_namespace_resolves_to_the_request_namespace():
    rt = routetable([single(dest("v1", namespace=None))], namespace=None)
    assert denial(rt, cluster(), namespace=NS) is None


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([50, 50], None),
        ([100, 0], None),
        ([0, 0], "route /echo: weights 0,0 total 0; Gloo needs at least 1"),
        ([None, None], "route /echo: weights -,- total 0; Gloo needs at least 1"),
        ([1, 3], "route /echo: weights 1,3 total 4, not 100 "
                 "(is the mutating webhook routetables.mutate.kubectl-canary.io installed?)"),
        ([-1, 101], "route /echo: weights -1,101 include a negative one"),
        ([], "route /echo: multi has no destinations"),
    ],
)
def test_multi_weights(weights, message):
    assert denial(routetable([weighted(weights)]), cluster()) == message


def test_a_weight_zero_destination_nobody_serves_is_a_warning():
    rt = routetable([multi([(dest("v1"), 100), (dest("v9"), 0)])])
    verdict = verdict_for(rt, cluster())
    assert verdict.allowed
    assert verdict.warnings == (
        "route /echo -> echo/echo subset version=v9: no Deployment in namespace echo serves it; found v1, v2 "
        "(weight 0, so no traffic yet)",
    )


def test_all_problems_are_reported_at_once():
    rt = routetable([
        single(dest("v3"), headers=CANARY),
        multi([(dest("v1", name="nope"), 1), (dest("v1"), 1)]),
        single(dest("v1", zone="a"), prefix="/other"),
    ])
    verdict = verdict_for(rt, cluster())
    assert not verdict.allowed
    assert verdict.message == (
        "4 problems: "
        "route /echo [stage=canary] -> echo/echo subset version=v3: no Deployment in namespace echo serves it; "
        "found v1, v2; "
        "route /echo -> echo/nope subset version=v1: Upstream echo/nope does not exist; "
        "route /other -> echo/echo subset version=v1,zone=a: Upstream echo/echo has no subset selector with keys "
        "[version,zone]; it has [version]; "
        "route /echo: weights 1,1 total 2, not 100 "
        "(is the mutating webhook routetables.mutate.kubectl-canary.io installed?)"
    )
    assert sorted(p.reason for p in verdict.problems) == ["no-deployment", "subset-keys", "upstream-missing",
                                                          "weights-total"]


def test_a_long_list_of_problems_is_cut_with_a_count():
    rt = routetable([single(dest(f"v{i}"), prefix=f"/p{i}") for i in range(3, 30)])
    message = denial(rt, cluster())
    assert message is not None
    assert message.startswith("27 problems: route /p3 -> ")
    assert message.endswith("; and 7 more")


def test_enforcement_warn_admits_with_the_denials_as_warnings():
    rt = routetable([single(dest("v3"))])
    verdict = verdict_for(rt, cluster(), settings=Settings(enforcement="warn"))
    assert verdict.allowed and verdict.decision == "warned"
    assert verdict.warnings == (
        "route /echo -> echo/echo subset version=v3: no Deployment in namespace echo serves it; found v1, v2",
    )


def test_an_update_that_leaves_spec_alone_is_not_denied_for_old_problems():
    old = routetable([single(dest("v3"))])
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"touched": "yes"}
    verdict = verdict_for(new, cluster(), operation="UPDATE", old=old)
    assert verdict.allowed
    assert verdict.warnings == (
        "not enforced (spec unchanged): route /echo -> echo/echo subset version=v3: no Deployment in namespace "
        "echo serves it; found v1, v2",
    )


def test_an_update_that_changes_spec_is_validated_in_full():
    old = routetable([single(dest("v1"))])
    new = routetable([single(dest("v3"))])
    assert denial(new, cluster(), operation="UPDATE", old=old) is not None


@pytest.mark.parametrize(
    ("rt", "allowed"),
    [
        (routetable([single(dest("v3"))]), False),  # denied by /validate
        (routetable([weighted([1, 3])]), False),  # patched by /mutate, denied by /validate (total 4)
        (routetable([single(dest("v1"))], labels={"apiGroup": "g"}), True),  # allowed untouched
    ],
)
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_dry_run_gets_the_same_answer(path, rt, allowed):
    client = create_app(StateLookup(cluster()), Settings(default_api_group="g")).test_client()
    wet, dry = (client.post(path, json=admission_review(rt, uid="same", dry_run=flag)) for flag in (False, True))
    assert wet.status_code == dry.status_code == 200
    assert wet.headers.get("Content-Type") == dry.headers.get("Content-Type")
    assert wet.get_data() == dry.get_data()
    assert wet.get_json()["response"]["allowed"] is (allowed or path == "/mutate")


class LaggingCache(StateLookup):
    """Stands in for a watch cache that has not seen the newest objects yet: they are only visible to a
    fresh lookup (in the cluster, a direct API read). Only the cluster's timing is simulated."""

    def __init__(self, cached: Sequence[Obj], recent: Sequence[Obj]) -> None:
        super().__init__(cached)
        self.recent = StateLookup([*cached, *recent])
        self.fresh_calls: list[str] = []

    def upstream(self, namespace: str, name: str, fresh: bool = False):
        if fresh:
            self.fresh_calls.append(f"upstream {namespace}/{name}")
            return self.recent.upstream(namespace, name)
        return super().upstream(namespace, name)

    def deployments(self, namespace: str, fresh: bool = False):
        if fresh:
            self.fresh_calls.append(f"deployments {namespace}")
            return self.recent.deployments(namespace)
        return super().deployments(namespace)


def test_objects_created_a_moment_before_the_routetable_are_found_by_asking_again():
    lookup = LaggingCache([namespace()], [upstream(), deployment("v1")])
    verdict = validate(Context(review(routetable([single(dest("v1"))])), lookup, Settings()))
    assert verdict.allowed
    assert lookup.fresh_calls == ["upstream echo/echo", "deployments echo"]


def test_cached_answers_need_no_second_lookup():
    lookup = LaggingCache(cluster(), [])
    validate(Context(review(routetable([single(dest("v1"))])), lookup, Settings()))
    assert lookup.fresh_calls == []


def test_a_status_write_is_judged_from_the_cache_alone():
    # Gloo writes status on every RouteTable (no status subresource): those writes must not cost API reads
    lookup = LaggingCache([namespace()], [upstream(), deployment("v1")])
    old = routetable([single(dest("v1"))])
    new = copy.deepcopy(old) | {"status": {"statuses": {"gloo-system": {"state": "Accepted"}}}}
    verdict = validate(Context(review(new, "UPDATE", old), lookup, Settings()))
    assert verdict.allowed and lookup.fresh_calls == []
    assert verdict.warnings == (
        "not enforced (spec unchanged): route /echo -> echo/echo subset version=v1: Upstream echo/echo does not exist",)


class CountingPolicies(StateLookup):
    """A StateLookup that counts how often the policies are asked for (no Memo in front of it)."""

    calls = 0

    def policy_set(self):
        self.calls += 1
        return super().policy_set()


def test_policies_are_read_once_per_request():
    pol = {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": "p"},
           "spec": {"maxWeightStep": 10, "requireHeaderPhase": True, "prefixes": ["/echo"]}}
    lookup = CountingPolicies([*cluster(), pol])
    old, new = routetable([weighted([80, 20])]), routetable([weighted([70, 30])])
    ctx = Context(review(new, "UPDATE", old), lookup, Settings())
    verdict = validate(ctx)
    assert verdict.allowed and lookup.calls == 1


# -- Deployment DELETE -----------------------------------------------------------------------------

def delete(name_version: str, objects: Sequence[Obj], settings: Settings | None = None, **kw):
    target = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name_version)
    return validate(context(None, objects, operation="DELETE", old=target, kind=DEPLOYMENT_KIND,
                            settings=settings, **kw))


def seed_rt(*routes: Obj) -> Obj:
    return routetable(list(routes), labels={"apiGroup": "example"})


@pytest.mark.parametrize(
    ("routes", "deleted", "message"),
    [
        # stable phase: v1 carries all traffic
        ([single(dest("v1"))], "echo-v1",
         "Deployment echo/echo-v1 is the last one serving RouteTable echo/echo-routes route /echo -> echo/echo "
         "subset version=v1; move that traffic to another version first"),
        ([single(dest("v1"))], "echo-v2", None),
        # header phase: the header route protects the canary
        ([single(dest("v2"), headers=CANARY), weighted([100, 0])], "echo-v2",
         "Deployment echo/echo-v2 is the last one serving RouteTable echo/echo-routes route /echo [stage=canary] -> "
         "echo/echo subset version=v2; move that traffic to another version first"),
        # weighted phase: both carry traffic
        ([weighted([50, 50])], "echo-v1",
         "Deployment echo/echo-v1 is the last one serving RouteTable echo/echo-routes route /echo -> echo/echo "
         "subset version=v1; move that traffic to another version first"),
        # a route to the whole Upstream (no subset) needs some Deployment behind it
        ([single(dest(None))], "echo-v1", None),
    ],
)
def test_deployment_delete(routes, deleted, message):
    verdict = delete(deleted, cluster(seed_rt(*routes)))
    assert (None if verdict.allowed else verdict.message) == message


def test_deleting_the_last_deployment_behind_a_route_without_subset_is_denied():
    verdict = delete("echo-v1", cluster(seed_rt(single(dest(None))), versions=("v1",)))
    assert verdict.message == (
        "Deployment echo/echo-v1 is the last one serving RouteTable echo/echo-routes route /echo -> echo/echo; "
        "move that traffic to another version first"
    )


def test_a_second_deployment_serving_the_same_subset_allows_the_delete():
    objects = [*cluster(seed_rt(single(dest("v1")))), deployment("v1", extra={"track": "b"}) | {
        "metadata": {"name": "echo-v1-b", "namespace": NS}}]
    assert delete("echo-v1", objects).allowed


def test_weight_zero_does_not_protect_but_is_reported():
    # `finish` moves everything to v2 first; at weight 0 v1 receives no traffic and may go.
    verdict = delete("echo-v1", cluster(seed_rt(single(dest("v2"), headers=CANARY), weighted([0, 100]))))
    assert verdict.allowed
    assert verdict.warnings == (
        "weight 0 left on the last Deployment echo-v1: RouteTable echo/echo-routes route /echo -> echo/echo "
        "subset version=v1",
    )


def test_every_routetable_that_needs_the_deployment_is_named():
    other = routetable([single(dest("v1"), prefix="/two")], name="second")
    verdict = delete("echo-v1", cluster(seed_rt(single(dest("v1"))), other))
    assert verdict.message is not None
    assert verdict.message.startswith("2 problems: ")
    assert "RouteTable echo/echo-routes route /echo" in verdict.message
    assert "RouteTable echo/second route /two" in verdict.message


def test_a_deployment_in_another_namespace_with_the_same_labels_is_not_protected():
    objects = [*cluster(seed_rt(single(dest("v1")))), deployment("v1", namespace="other")]
    verdict = validate(context(None, objects, operation="DELETE", old=objects[-1], kind=DEPLOYMENT_KIND))
    assert verdict.allowed and verdict.warnings == ()


def test_a_deployment_behind_an_upstream_in_another_namespace_is_protected():
    rt = seed_rt(single(dest("v1", namespace="gloo-system")))
    objects = [*cluster(rt), upstream(namespace="gloo-system", service_namespace=NS)]
    assert not delete("echo-v1", objects).allowed


def test_a_deployment_created_a_moment_ago_is_found_before_denying_a_delete():
    objects = cluster(seed_rt(single(dest("v1"))))
    twin = deployment("v1") | {"metadata": {"name": "echo-v1-new", "namespace": NS}}
    lookup = LaggingCache(objects, [twin])
    target = objects[2]
    verdict = validate(Context(review(None, "DELETE", target, kind=DEPLOYMENT_KIND), lookup, Settings()))
    assert verdict.allowed
    assert lookup.fresh_calls == ["deployments echo"]


class StaleCache(StateLookup):
    """Stands in for a watch cache that still holds Deployments the cluster has deleted a moment ago: a
    fresh lookup (in the cluster, a direct API read) no longer sees them. Only the cluster's timing is
    simulated."""

    def __init__(self, cached: Sequence[Obj], gone: Sequence[str]) -> None:
        super().__init__(cached)
        self.gone = set(gone)
        self.fresh_calls: list[str] = []

    def deployments(self, namespace: str, fresh: bool = False):
        found = super().deployments(namespace)
        if not fresh:
            return found
        self.fresh_calls.append(f"deployments {namespace}")
        return [d for d in found if d["metadata"]["name"] not in self.gone]


def _twin(name: str, **meta) -> Obj:
    return deployment("v1") | {"metadata": {"name": name, "namespace": NS, **meta}}


def test_a_twin_only_the_cache_still_holds_does_not_allow_the_delete():
    # `kubectl delete deploy echo-v1-b echo-v1`: the cache still shows echo-v1-b, the cluster no longer has it
    objects = [*cluster(seed_rt(single(dest("v1")))), _twin("echo-v1-b")]
    lookup = StaleCache(objects, gone=["echo-v1-b"])
    verdict = validate(Context(review(None, "DELETE", objects[2], kind=DEPLOYMENT_KIND), lookup, Settings()))
    assert not verdict.allowed
    assert verdict.message is not None and verdict.message.startswith("Deployment echo/echo-v1 is the last one")
    assert lookup.fresh_calls == ["deployments echo"]


def test_a_twin_the_cluster_confirms_allows_the_delete():
    objects = [*cluster(seed_rt(single(dest("v1")))), _twin("echo-v1-b")]
    lookup = StaleCache(objects, gone=[])
    verdict = validate(Context(review(None, "DELETE", objects[2], kind=DEPLOYMENT_KIND), lookup, Settings()))
    assert verdict.allowed and lookup.fresh_calls == ["deployments echo"]


def test_a_delete_reads_the_cluster_once_and_only_for_a_deployment_that_serves_a_route():
    second = routetable([single(dest("v1"), prefix="/two")], name="second")
    objects = [*cluster(seed_rt(single(dest("v1"))), second), _twin("echo-v1-b")]
    lookup = StaleCache(objects, gone=[])

    def delete_(target: Obj):
        return validate(Context(review(None, "DELETE", target, kind=DEPLOYMENT_KIND), lookup, Settings()))

    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert delete_(by_name["echo-v1"]).allowed  # two destinations need v1; echo-v1-b serves both
    assert lookup.fresh_calls == ["deployments echo"]
    assert delete_(by_name["echo-v2"]).allowed  # no route sends to v2: nothing to confirm
    assert lookup.fresh_calls == ["deployments echo"]


def test_a_twin_being_deleted_itself_does_not_allow_the_delete():
    objects = [*cluster(seed_rt(single(dest("v1")))), _twin("echo-v1-b", deletionTimestamp="2026-01-01T00:00:00Z")]
    verdict = delete("echo-v1", objects)
    assert not verdict.allowed


def test_a_delete_under_enforcement_warn_is_admitted_with_a_warning():
    verdict = delete("echo-v1", cluster(seed_rt(single(dest("v1")))), Settings(enforcement="warn"))
    assert verdict.allowed and verdict.decision == "warned"
    assert verdict.warnings[0].startswith("Deployment echo/echo-v1 is the last one serving")


@pytest.mark.parametrize(
    ("operation", "kind", "obj", "old"),
    [
        ("DELETE", ("gateway.solo.io", "v1", "RouteTable"), None, routetable([single(dest("v3"))])),
        ("CREATE", DEPLOYMENT_KIND, deployment("v9"), None),
        ("UPDATE", DEPLOYMENT_KIND, deployment("v9"), deployment("v1")),
        ("CREATE", ("", "v1", "ConfigMap"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
         None),
        ("CONNECT", ("", "v1", "Pod"), {"apiVersion": "v1", "kind": "PodExecOptions"}, None),
    ],
)
def test_other_kinds_and_operations_are_allowed_untouched(operation, kind, obj, old):
    verdict = validate(context(obj, cluster(seed_rt(single(dest("v1")))), operation=operation, old=old, kind=kind))
    assert verdict.allowed and verdict.warnings == () and verdict.problems == ()


def test_a_problem_on_many_routes_is_named_once_with_a_count_and_the_message_stays_bounded():
    routes = [single(dest("v9"), prefix=f"/echo/{i}") for i in range(10_000)] + [weighted([30, 30])]
    verdict = validate(context(routetable(routes), cluster()))
    assert not verdict.allowed and len(verdict.problems) == 10_001
    assert verdict.message.startswith(
        "10,001 problems: route /echo/0 -> echo/echo subset version=v9: no Deployment in namespace echo serves it; "
        "found v1, v2 (and 9,999 more routes like it); route /echo: weights 30,30 total 60, not 100")
    assert len(verdict.message) < 1000


def test_a_routetable_over_the_route_limit_is_refused_naming_the_limit():
    from webhook.admission.limits import MAX_ROUTES

    routes = [{"matchers": [{"prefix": "/"}]}] * (MAX_ROUTES + 1)
    for decide in (validate, mutate):
        verdict = decide(context(routetable(routes), cluster()))
        assert not verdict.allowed
        assert verdict.message.startswith(f"{MAX_ROUTES + 1:,} routes are more than the {MAX_ROUTES:,} canary-webhook "
                                          "judges in one RouteTable within its timeout: split them")
