"""Platform policy in the webhook: each CanaryPolicy field's check (allowed and refused), enforcement per
policy, the apiGroup precedence in mutation, and the wiring through the Flask app (a denial, a warning,
an audit record in the log line and in /metrics) and through `canary-webhook review`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from whrules import mutate, validate
from whsupport import (
    admission_review,
    applied,
    cluster,
    context,
    deployment,
    dest,
    multi,
    namespace,
    routetable,
    single,
    upstream,
    weighted,
)

from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.policy import read_policies
from webhook.admission.decision import Settings, Verdict
from webhook.admission.policy import PolicyProblem
from webhook.app import create_app
from webhook.cli.main import cli
from webhook.cluster.state import StateLookup
from webhook.health import health_of
from webhook.logs import JsonLines

HEADER = [("stage", "canary")]


def cpol(name: str, **spec) -> Obj:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": name},
            "spec": spec}


def decide(rt: Obj, *policies: Obj, old: Obj | None = None, objects=(), settings: Settings | None = None,
           operation: str | None = None) -> Verdict:
    op = operation or ("UPDATE" if old is not None else "CREATE")
    ctx = context(rt, [*cluster(*objects), *policies], operation=op, old=old, settings=settings)
    return validate(ctx)


def messages(verdict: Verdict) -> list[str]:
    return [p.message for p in verdict.problems]


def header_phase(weight: int) -> Obj:
    """The plugin's RouteTable with v2 as the canary at `weight`."""
    return routetable([single(dest("v2"), headers=HEADER), weighted([100 - weight, weight])])


STABLE_V1 = routetable([single(dest("v1"))])


# -- each field -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"apiGroup": "team-a"}, []),
        ({"apiGroup": "other"}, ["policy team: label apiGroup=other is not allowed in namespace echo; its RouteTables "
                                 "must carry apiGroup=team-a"]),
        ({}, ["policy team: no apiGroup label is not allowed in namespace echo; its RouteTables must carry "
              "apiGroup=team-a"]),
    ],
)
def test_api_group_is_required(labels, expected):
    verdict = decide(routetable([single(dest("v1"))], labels=labels), cpol("team", apiGroup="team-a"))
    assert messages(verdict) == expected
    assert verdict.allowed is (not expected)


def test_conflicting_api_groups_refuse_every_route_table_naming_both_policies():
    verdict = decide(routetable([single(dest("v1"))], labels={"apiGroup": "a"}),
                     cpol("pa", apiGroup="a"), cpol("pb", apiGroup="b"))
    assert not verdict.allowed
    assert messages(verdict) == [
        "policies pa, pb: they require different apiGroups for namespace echo (pa: a; pb: b), so no RouteTable "
        "there can be admitted; ask the platform team to reconcile them"]


@pytest.mark.parametrize(
    ("policies", "ns_group", "default", "group", "origin"),
    [
        ([cpol("team", apiGroup="pol")], "ns-group", "dflt", "pol", "from CanaryPolicy team"),
        ([cpol("team", apiGroup="pol", enforcement="Warn")], "ns-group", "dflt", "pol", "from CanaryPolicy team"),
        ([], "ns-group", "dflt", "ns-group", "from Namespace echo"),
        ([cpol("team", maxWeightStep=10)], None, "dflt", "dflt", "the webhook's default"),
        # Audit only records; it changes no object
        ([cpol("team", apiGroup="pol", enforcement="Audit")], "ns-group", "dflt", "ns-group", "from Namespace echo"),
        # a conflict injects nothing from policy (validation refuses it, naming both)
        ([cpol("a", apiGroup="x"), cpol("b", apiGroup="y")], "ns-group", None, "ns-group", "from Namespace echo"),
        # the stricter enforcement's group wins over a Warn policy's
        ([cpol("w", apiGroup="warned", enforcement="Warn"), cpol("e", apiGroup="enforced")], None, None, "enforced",
         "from CanaryPolicy e"),
        ([cpol("p1", apiGroup="same"), cpol("p2", apiGroup="same")], None, None, "same", "from CanaryPolicy p1, p2"),
    ],
)
def test_api_group_injection_prefers_policy_then_namespace_then_default(policies, ns_group, default, group, origin):
    rt = routetable([single(dest("v1"))])
    objects = [namespace("echo", ns_group), *policies]
    verdict = mutate(context(rt, objects, settings=Settings(default_api_group=default)))
    assert verdict.mutated["metadata"]["labels"]["apiGroup"] == group
    assert verdict.warnings == (f"label apiGroup={group} added ({origin})",)


def test_relabelling_into_another_group_is_judged_though_the_spec_is_unchanged():
    old = routetable([single(dest("v1"))], labels={"apiGroup": "team-a"})
    new = routetable([single(dest("v1"))], labels={"apiGroup": "other"})
    verdict = decide(new, cpol("team", apiGroup="team-a"), old=old)
    assert not verdict.allowed and verdict.message.startswith("policy team: label apiGroup=other is not allowed")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (header_phase(20), routetable([single(dest("v2"))]),
         ["policy steps: route /echo: v2 share 20 -> 100 changes by 80 points, over maxWeightStep 25; shift in "
          "steps of at most 25 first, or ask the platform team"]),
        (header_phase(20), header_phase(45), []),
        (header_phase(20), header_phase(46), ["policy steps: route /echo: v2 share 20 -> 46 changes by 26 points, "
                                              "over maxWeightStep 25; shift in steps of at most 25 first, or ask the "
                                              "platform team"]),
        (header_phase(50), routetable([single(dest("v1"))]),  # abort from 50 is a step too
         ["policy steps: route /echo: v1 share 50 -> 100 changes by 50 points, over maxWeightStep 25; shift in "
          "steps of at most 25 first, or ask the platform team"]),
        (header_phase(90), routetable([single(dest("v2"))]), []),
    ],
)
def test_max_weight_step_compares_old_and_new(old, new, expected):
    assert messages(decide(new, cpol("steps", maxWeightStep=25), old=old)) == expected


def test_max_weight_step_is_not_bypassed_by_spelling_a_default_in_the_matcher():
    old = routetable([weighted([80, 20])])
    new = routetable([weighted([0, 100])])
    new["spec"]["routes"][0]["matchers"][0]["caseSensitive"] = True
    verdict = decide(new, cpol("steps", maxWeightStep=10), old=old)
    assert not verdict.allowed
    assert messages(verdict) == [
        "policy steps: route /echo: v2 share 20 -> 100 changes by 80 points, over maxWeightStep 10; shift in steps of "
        "at most 10 first, or ask the platform team"]


def test_max_weight_step_does_not_judge_a_create():
    assert decide(routetable([single(dest("v2"))]), cpol("steps", maxWeightStep=1)).problems == ()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, routetable([single(dest("v1"))]), []),
        (None, routetable([weighted([80, 20])]), ["policy phases: route /echo: v2 gets 20% of the traffic without "
                                                  "a header-matched phase first; route header-matched requests to "
                                                  "it first (kubectl canary start), then shift"]),
        (STABLE_V1, header_phase(0), []),
        (header_phase(0), header_phase(30), []),
        (STABLE_V1, routetable([weighted([70, 30])]), ["policy phases: route /echo: v2 gets 30% of the traffic "
                                                       "without a header-matched phase first; route header-matched "
                                                       "requests to it first (kubectl canary start), then shift"]),
        (STABLE_V1, routetable([single(dest("v2"))]), ["policy phases: route /echo: v2 gets 100% of the traffic "
                                                        "without a header-matched phase first; route header-matched "
                                                        "requests to it first (kubectl canary start), then shift"]),
    ],
)
def test_require_header_phase(old, new, expected):
    assert messages(decide(new, cpol("phases", requireHeaderPhase=True), old=old)) == expected


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([{"prefix": "/echo"}], []),
        ([{"prefix": "/echo/api"}], []),
        ([{"exact": "/echo/health"}], []),
        ([{"prefix": "/echoes"}], ["policy paths: route /echoes: path /echoes is outside the allowed prefixes "
                                   "(/echo)"]),
        ([{"prefix": "/other"}], ["policy paths: route /other: path /other is outside the allowed prefixes (/echo)"]),
        ([{"regex": "/echo/.*"}], ["policy paths: route regex:/echo/.*: a regex matcher cannot be proven to stay "
                                   "under the allowed prefixes (/echo); use prefix or exact matchers"]),
        ([], ["policy paths: route /: path / is outside the allowed prefixes (/echo)"]),
    ],
)
def test_prefixes_expand_the_namespace_and_match_whole_segments(matchers, expected):
    rt = routetable([{"matchers": matchers, "routeAction": {"single": dest("v1")}}])
    assert messages(decide(rt, cpol("paths", prefixes=["/{namespace}"]))) == expected


def test_every_policys_prefixes_must_be_satisfied():
    rt = routetable([single(dest("v1"), prefix="/echo/api"), single(dest("v1"), prefix="/shared")])
    verdict = decide(rt, cpol("a", prefixes=["/{namespace}", "/shared"]), cpol("b", prefixes=["/echo/api"]))
    assert messages(verdict) == ["policy b: route /shared: path /shared is outside the allowed prefixes (/echo/api)"]


OTHER_NS = [namespace("other"), upstream("echo", "other"), deployment("v1", "other")]


@pytest.mark.parametrize(
    ("spec", "route", "objects", "expected"),
    [
        ({}, single(dest("v1")), [], []),
        ({}, single(dest("v1", namespace="other")), OTHER_NS,
         ["policy iso: route /echo -> Upstream other/echo: routes in namespace echo may only reach services in "
          "namespace echo (allowCrossNamespaceUpstreams is false)"]),
        # an Upstream of the own namespace whose service lives elsewhere
        ({}, single(dest("v1", name="sneaky")), [upstream("sneaky", "echo", service_namespace="other",
                                                           selector={"app": "echo"}), *OTHER_NS],
         ["policy iso: route /echo -> Upstream echo/sneaky (its service is in namespace other): routes in namespace "
          "echo may only reach services in namespace echo (allowCrossNamespaceUpstreams is false)"]),
        # an Upstream in another namespace (discovery's gloo-system ones) for a service of the own namespace
        ({}, single(dest("v1", name="echo-echo-8080", namespace="gloo-system")),
         [upstream("echo-echo-8080", "gloo-system", service_namespace="echo", selector={"app": "echo"})], []),
        ({"allowCrossNamespaceUpstreams": True}, single(dest("v1", namespace="other")), OTHER_NS, []),
        ({}, {"matchers": [{"prefix": "/k"}], "routeAction": {"single": {"kube": {"ref": {"name": "svc",
                                                                                          "namespace": "db"}}}}},
         [], ["policy iso: route /k -> Service db/svc: routes in namespace echo may only reach services in "
              "namespace echo (allowCrossNamespaceUpstreams is false)"]),
    ],
)
def test_cross_namespace_upstreams(spec, route, objects, expected):
    assert messages(decide(routetable([route]), cpol("iso", **spec), objects=objects)) == expected


# -- selection, merging and enforcement -----------------------------------------------------------


def test_only_governing_policies_apply():
    rt = routetable([single(dest("v1"), prefix="/x")])
    selected = cpol("sel", prefixes=["/{namespace}"], namespaceSelector={"matchLabels": {"team": "web"}})
    exempt = cpol("ex", prefixes=["/{namespace}"], exemptNamespaces=["echo"])
    assert decide(rt, selected, exempt).problems == ()
    web = {**namespace("echo"), "metadata": {"name": "echo", "labels": {"team": "web"}}}
    verdict = validate(context(rt, [web, upstream(), deployment("v1"), selected, exempt]))
    assert messages(verdict) == ["policy sel: route /x: path /x is outside the allowed prefixes (/echo)"]


def test_the_strictest_step_applies_and_the_denial_names_its_policy():
    verdict = decide(header_phase(60), cpol("loose", maxWeightStep=50), cpol("tight", maxWeightStep=25),
                     old=header_phase(20))
    assert verdict.message == ("policy tight: route /echo: v2 share 20 -> 60 changes by 40 points, over "
                               "maxWeightStep 25; shift in steps of at most 25 first, or ask the platform team")


@pytest.mark.parametrize(
    ("enforcement", "allowed", "decision", "denied", "warned"),
    [("Enforce", False, "denied", True, False), ("Warn", True, "allowed", False, True),
     ("Audit", True, "audit", False, False)],
)
def test_enforcement_denies_warns_or_only_records(enforcement, allowed, decision, denied, warned):
    verdict = decide(routetable([single(dest("v2"))]), cpol("p", maxWeightStep=10, enforcement=enforcement),
                     old=header_phase(20))
    assert (verdict.allowed, verdict.decision) == (allowed, decision)
    (problem,) = verdict.problems
    assert isinstance(problem, PolicyProblem)
    assert (problem.policies, problem.field, problem.enforcement) == (("p",), "maxWeightStep", enforcement)
    assert (verdict.message == problem.message) is denied
    assert (problem.message in verdict.warnings) is warned


def test_each_policy_keeps_its_own_enforcement():
    verdict = decide(routetable([single(dest("v2"), prefix="/x")]), cpol("enf", maxWeightStep=10),
                     cpol("warn", prefixes=["/{namespace}"], enforcement="Warn"),
                     cpol("audit", requireHeaderPhase=True, maxWeightStep=5, enforcement="Audit"),
                     old=routetable([single(dest("v1"), prefix="/x")]))
    assert not verdict.allowed
    assert verdict.message == ("policy enf: route /x: v2 share 0 -> 100 changes by 100 points, over maxWeightStep "
                               "10; shift in steps of at most 10 first, or ask the platform team")
    assert verdict.warnings == ("policy warn: route /x: path /x is outside the allowed prefixes (/echo)",)
    audited = [(p.field, p.policies) for p in verdict.problems if p.recorded_only]
    assert audited == [("maxWeightStep", ("audit",)), ("requireHeaderPhase", ("audit",))]


def test_webhook_wide_warn_mode_turns_policy_denials_into_warnings():
    verdict = decide(routetable([single(dest("v2"))]), cpol("p", maxWeightStep=10), old=header_phase(20),
                     settings=Settings(enforcement="warn"))
    assert (verdict.allowed, verdict.decision) == (True, "warned")
    assert verdict.warnings[0].startswith("policy p: route /echo: v2 share 20 -> 100")


def test_a_policy_that_cannot_be_read_refuses_naming_it():
    verdict = decide(STABLE_V1, cpol("broken", maxWeightStep="ten"))
    assert verdict.message == ("CanaryPolicy broken cannot be applied: CanaryPolicy broken: spec.maxWeightStep must "
                               "be an integer from 1 to 100, not 'ten'; RouteTable writes are refused until the "
                               "platform team fixes it")


def test_an_unreadable_policy_is_not_ratcheted_away():
    # The old object "had" the problem too, but it is about the policy, not the object: still a denial.
    old = routetable([single(dest("v1"))], labels={"apiGroup": "g"})
    new = routetable([single(dest("v2"))], labels={"apiGroup": "g"})
    verdict = decide(new, cpol("broken", maxWeightStep="ten"), old=old)
    assert not verdict.allowed and verdict.message is not None
    assert verdict.message.startswith("CanaryPolicy broken cannot be applied")


def test_a_policy_problem_the_old_object_had_only_warns_on_an_update():
    # A route outside the allowed prefixes that predates the policy does not block an UPDATE elsewhere;
    # a new route outside them does.
    policy = cpol("paths", prefixes=["/echo"])
    old = routetable([single(dest("v1"), prefix="/x")], labels={"apiGroup": "g"})
    fixed_elsewhere = routetable([single(dest("v1"), prefix="/x"), single(dest("v2"), prefix="/echo")],
                                 labels={"apiGroup": "g"})
    verdict = decide(fixed_elsewhere, policy, old=old)
    assert verdict.allowed and verdict.warnings[0].startswith(
        "not enforced (already there before this update): policy paths: route /x: path /x is outside")
    worse = routetable([single(dest("v1"), prefix="/x"), single(dest("v2"), prefix="/y")], labels={"apiGroup": "g"})
    verdict = decide(worse, policy, old=old)
    assert not verdict.allowed and verdict.message is not None and "route /y" in verdict.message


def test_writes_that_change_no_routing_are_not_judged_by_policy():
    # An annotation (or Gloo's status) on a RouteTable that broke a rule before the policy existed.
    old = routetable([single(dest("v1"), prefix="/x")], labels={"apiGroup": "g"})
    new = json.loads(json.dumps(old))
    new["metadata"]["annotations"] = {"note": "x"}
    assert decide(new, cpol("paths", prefixes=["/{namespace}"]), old=old).problems == ()


def test_deployment_deletes_are_not_policy_business():
    verdict = validate(context(None, [*cluster(), cpol("p", prefixes=["/nothing"])], operation="DELETE",
                               old=deployment("v2"), kind=("apps", "v1", "Deployment")))
    assert verdict.allowed and verdict.problems == ()


# -- through the Flask app ------------------------------------------------------------------------


class Changing(StateLookup):
    """A Lookup whose policies a test edits between requests (the informer cache in the cluster)."""

    def __init__(self, objects, policies) -> None:
        super().__init__(objects)
        self.current = list(policies)

    def policies(self):
        return list(self.current)

    def policy_set(self):
        return read_policies(self.current)


def post(client, path: str, body: Obj) -> Obj:
    answer = client.post(path, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 200
    return answer.get_json()["response"]


FINISH = admission_review(routetable([single(dest("v2"))]), "UPDATE", header_phase(20), uid="finish-1")


def test_app_denies_warns_and_audits_as_the_policy_says_without_a_restart(caplog):
    lookup = Changing(cluster(), [cpol("limits", maxWeightStep=25)])
    client = create_app(lookup).test_client()
    caplog.set_level(logging.INFO, logger="canary_webhook.requests")

    denied = post(client, "/validate", FINISH)
    assert denied["allowed"] is False and denied["status"]["code"] == 403
    assert denied["status"]["message"].startswith("policy limits: route /echo: v2 share 20 -> 100 changes by 80")

    lookup.current = [cpol("limits", maxWeightStep=25, enforcement="Warn")]  # edited: the next request sees it
    warned = post(client, "/validate", FINISH)
    assert warned["allowed"] is True and warned["warnings"][0].startswith("policy limits: route /echo: v2 share")

    lookup.current = [cpol("limits", maxWeightStep=25, enforcement="Audit")]
    audited = post(client, "/validate", FINISH)
    assert audited == {"uid": "finish-1", "allowed": True}  # nothing shown to the user

    lines = [json.loads(JsonLines().format(r)) for r in caplog.records if r.name == "canary_webhook.requests"]
    assert [line["decision"] for line in lines] == ["denied", "allowed", "audit"]
    audit = lines[-1]
    assert (audit["uid"], audit["namespace"], audit["name"], audit["operation"]) == (
        "finish-1", "echo", "echo-routes", "UPDATE")
    assert audit["violations"] == [{"policies": ["limits"], "field": "maxWeightStep", "enforcement": "Audit",
                                    "message": denied["status"]["message"]}]
    assert audit["reasons"] == ["policy-maxWeightStep"]

    metrics = health_of(client.application).answer("/metrics").body.decode()
    for enforcement in ("Enforce", "Warn", "Audit"):
        labels = f'enforcement="{enforcement}",field="maxWeightStep",policy="limits"'
        assert f"canary_webhook_policy_violations_total{{{labels}}} 1.0" in metrics
    assert 'canary_webhook_requests_total{decision="audit",endpoint="validate",operation="UPDATE"} 1.0' in metrics
    assert 'canary_webhook_denials_total{reason="policy-maxWeightStep"} 1.0' in metrics
    # The Warn violation is a warning; the Audit one is counted as a violation only.
    assert 'canary_webhook_warnings_total{reason="policy-maxWeightStep"} 1.0' in metrics


def test_app_injects_the_policy_group_and_counts_each_policy_of_a_shared_rule():
    lookup = StateLookup([*cluster(), cpol("a", apiGroup="g"), cpol("b", apiGroup="g")])
    client = create_app(lookup).test_client()
    rt = routetable([single(dest("v1"))])
    mutated = post(client, "/mutate", admission_review(rt))
    assert applied(rt, {"response": mutated})["metadata"]["labels"] == {"apiGroup": "g"}
    assert mutated["warnings"] == ["label apiGroup=g added (from CanaryPolicy a, b)"]
    post(client, "/validate", admission_review(routetable([single(dest("v1"))], labels={"apiGroup": "x"})))
    metrics = health_of(client.application).answer("/metrics").body.decode()
    for name in "ab":
        assert f'canary_webhook_policy_violations_total{{enforcement="Enforce",field="apiGroup",policy="{name}"}} 1.0' \
            in metrics


# -- through `canary-webhook review` --------------------------------------------------------------


@pytest.mark.parametrize(
    ("enforcement", "code", "line"),
    [("Enforce", 1, "denied: policy p: route /x: path /x is outside the allowed prefixes (/echo)"),
     ("Warn", 0, "warning: policy p: route /x: path /x is outside the allowed prefixes (/echo)"),
     ("Audit", 0, "audit: policy p: route /x: path /x is outside the allowed prefixes (/echo)")],
)
def test_review_decides_with_the_policies_in_the_state(tmp_path: Path, enforcement, code, line):
    state = tmp_path / "state"
    state.mkdir()
    docs = [*cluster(), cpol("p", prefixes=["/{namespace}"], enforcement=enforcement)]
    (state / "cluster.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    (tmp_path / "rt.yaml").write_text(yaml.safe_dump(routetable([single(dest("v1"), prefix="/x")],
                                                                labels={"apiGroup": "g"})))
    result = CliRunner().invoke(cli, ["review", "-f", str(tmp_path / "rt.yaml"), "--state", str(state)])
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines() == [line]


def test_multi_routes_to_the_same_version_count_once():
    # Two entries for v1 in one multi: its share is their sum, so nothing moves.
    rt = routetable([multi([(dest("v1"), 50), (dest("v1"), 50)])])
    assert decide(rt, cpol("steps", maxWeightStep=1), old=routetable([single(dest("v1"))])).problems == ()


def test_relabelling_a_broken_route_table_is_judged_by_the_webhooks_own_checks_too():
    # The apiGroup label decides which VirtualService serves the routes: a relabel is a routing change,
    # judged like a spec change, and ratcheted like one: what was broken before only warns, what the
    # UPDATE breaks denies.
    old = routetable([single(dest("v7"))], labels={"apiGroup": "a"})
    relabelled = routetable([single(dest("v7"))], labels={"apiGroup": "b"})
    verdict = decide(relabelled, old=old)
    assert verdict.allowed and verdict.warnings == (
        "not enforced (already there before this update): route /echo -> echo/echo subset version=v7: "
        "no Deployment in namespace echo serves it; found v1, v2",)
    worse = routetable([single(dest("v7")), single(dest("v8"), prefix="/x")], labels={"apiGroup": "b"})
    verdict = decide(worse, old=old)
    assert not verdict.allowed and verdict.message is not None
    assert verdict.message.startswith("route /x -> echo/echo subset version=v8: no Deployment")
    annotated = json.loads(json.dumps(old))
    annotated["metadata"]["annotations"] = {"note": "x"}
    verdict = decide(annotated, old=old)
    assert verdict.allowed and verdict.warnings[0].startswith("not enforced (spec unchanged): route /echo")
