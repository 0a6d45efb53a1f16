"""CanaryPolicy as pure functions: reading, selection, exemptions, the strictest merge, and each analysis
the webhook's policy checks are made of (weight steps, header phase, prefixes, references)."""

from __future__ import annotations

import pytest

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.policy import (
    AUDIT,
    ENFORCE,
    WARN,
    Imposed,
    PathClaim,
    Policy,
    Reference,
    Shift,
    Target,
    Unphased,
    claims,
    effective,
    expand,
    governing,
    levels,
    outside,
    parse_policy,
    read_policies,
    references,
    route_key,
    shifts,
    steps_over,
    strictest,
    under,
    unphased,
)
from kubectl_canary.core.selector import LabelSelector

NS = "shop"


def policy_obj(name: str = "p", **spec) -> dict:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": name},
            "spec": spec}


def policy(name: str = "p", **spec) -> Policy:
    return parse_policy(policy_obj(name, **spec))


def namespace(name: str = NS, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def dest(version: str | None, upstream: str = "echo", ns: str | None = None) -> dict:
    ref = {"name": upstream, **({"namespace": ns} if ns else {})}
    return {"upstream": ref, **({"subset": {"values": {"version": version}}} if version else {})}


def route(action: dict, prefix: str = "/echo", headers: dict | None = None, **extra) -> dict:
    matcher: dict = {"prefix": prefix}
    if headers:
        matcher["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    return {"matchers": [matcher], "routeAction": action, **extra}


def single(version: str, **kw) -> dict:
    return route({"single": dest(version)}, **kw)


def split(weights: dict[str, int], **kw) -> dict:
    return route({"multi": {"destinations": [{"destination": dest(v), "weight": w} for v, w in weights.items()]}},
                 **kw)


def header(version: str, **kw) -> dict:
    return single(version, headers={"stage": "canary"}, **kw)


def rt(*routes: dict, ns: str = NS) -> dict:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "echo-routes", "namespace": ns}, "spec": {"routes": list(routes)}}


# -- reading ------------------------------------------------------------------------------------


def test_an_empty_policy_has_the_crds_defaults():
    assert policy("p") == Policy("p", enforcement=ENFORCE, allow_cross_namespace_upstreams=False)
    assert parse_policy({"metadata": {"name": "bare"}}) == Policy("bare")


@pytest.mark.parametrize(
    ("spec", "attribute", "value"),
    [
        ({"apiGroup": "team-a"}, "api_group", "team-a"),
        ({"enforcement": "Warn"}, "enforcement", WARN),
        ({"enforcement": "Audit"}, "enforcement", AUDIT),
        ({"maxWeightStep": 25}, "max_weight_step", 25),
        ({"requireHeaderPhase": True}, "require_header_phase", True),
        ({"prefixes": ["/{namespace}", "/shared"]}, "prefixes", ("/{namespace}", "/shared")),
        ({"prefixes": []}, "prefixes", ()),
        ({"allowCrossNamespaceUpstreams": True}, "allow_cross_namespace_upstreams", True),
        ({"exemptNamespaces": ["sandbox"]}, "exempt_namespaces", ("sandbox",)),
        ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, "namespace_selector",
         LabelSelector((("team", "a"),))),
        ({"namespaceSelector": {}}, "namespace_selector", LabelSelector()),
    ],
)
def test_each_field_is_read(spec, attribute, value):
    assert getattr(policy("p", **spec), attribute) == value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"enforcement": "enforce"}, "CanaryPolicy p: spec.enforcement must be one of Enforce, Warn, Audit"),
        ({"maxWeightStep": 0}, "CanaryPolicy p: spec.maxWeightStep must be an integer from 1 to 100, not 0"),
        ({"maxWeightStep": "10"}, "spec.maxWeightStep must be an integer from 1 to 100, not '10'"),
        ({"maxWeightStep": True}, "spec.maxWeightStep must be an integer"),
        ({"requireHeaderPhase": "yes"}, "CanaryPolicy p: spec.requireHeaderPhase must be true or false"),
        ({"allowCrossNamespaceUpstreams": 1}, "spec.allowCrossNamespaceUpstreams must be true or false"),
        ({"prefixes": "/a"}, "spec.prefixes must be a list of non-empty strings"),
        ({"prefixes": ["echo"]}, r"spec.prefixes: every prefix starts with '/'"),
        ({"apiGroup": "a b"}, "spec.apiGroup must be a label value"),
        ({"exemptNamespaces": [""]}, "spec.exemptNamespaces must be a list of non-empty strings"),
        ({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
         r"CanaryPolicy p: spec.namespaceSelector.matchExpressions\[0\]: operator In needs values"),
        ({"maxWeightSteps": 10}, "CanaryPolicy p: spec.maxWeightSteps is not a CanaryPolicy field"),
    ],
)
def test_a_malformed_field_is_named_with_its_policy(spec, message):
    with pytest.raises(InvalidObject, match=message):
        policy("p", **spec)


def test_read_policies_sorts_and_sets_aside_the_unreadable():
    found, bad = read_policies([policy_obj("b"), policy_obj("bad", maxWeightStep=0), policy_obj("a")])
    assert [p.name for p in found] == ["a", "b"]
    assert [(u.name, u.error.split(":")[0]) for u in bad] == [("bad", "CanaryPolicy bad")]
    assert read_policies([{"spec": {}}])[1][0].error == "a CanaryPolicy without metadata.name"


# -- selection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ns", "labels", "governs"),
    [
        ({}, "shop", {}, True),  # no selector: every namespace
        ({"namespaceSelector": {}}, "shop", {}, True),  # the empty selector selects all, as in Kubernetes
        ({"namespaceSelector": {"matchLabels": {"team": "web"}}}, "shop", {"team": "web"}, True),
        ({"namespaceSelector": {"matchLabels": {"team": "web"}}}, "shop", {"team": "db"}, False),
        ({"namespaceSelector": {"matchLabels": {"team": "web"}}}, "shop", {}, False),
        ({"namespaceSelector": {"matchExpressions": [{"key": "sandbox", "operator": "DoesNotExist"}]}},
         "shop", {"team": "web"}, True),
        ({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}},
         "shop", {"env": "dev"}, False),
        # The name label the API server sets is there even when the Namespace object is not known.
        ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}, "shop", None, True),
        ({"exemptNamespaces": ["sandbox"]}, "sandbox", {}, False),
        ({"exemptNamespaces": ["sandbox"]}, "shop", {}, True),
        # An exemption wins over a selector that matches.
        ({"namespaceSelector": {"matchLabels": {"team": "web"}}, "exemptNamespaces": ["shop"]}, "shop",
         {"team": "web"}, False),
    ],
)
def test_selection_and_exemptions(spec, ns, labels, governs):
    ns_obj = None if labels is None else namespace(ns, **labels)
    assert governing([policy("p", **spec)], ns, ns_obj) == ((policy("p", **spec),) if governs else ())


def test_governing_policies_are_sorted_by_name():
    found = governing([policy("z"), policy("a"), policy("m", exemptNamespaces=[NS])], NS, namespace())
    assert [p.name for p in found] == ["a", "z"]


# -- the strictest merge --------------------------------------------------------------------------


def merged(*policies: Policy, ns: str = NS):
    found = effective(policies, ns)
    assert found is not None
    return found


def test_no_policies_merge_to_none():
    assert effective([], NS) is None and levels([], NS) == ()


@pytest.mark.parametrize(
    ("specs", "attribute", "expected"),
    [
        # maxWeightStep: the smallest, imposed by every policy that sets it
        ([{"maxWeightStep": 50}, {"maxWeightStep": 25}, {}], "max_weight_step", Imposed(25, ("p1",))),
        ([{"maxWeightStep": 25}, {"maxWeightStep": 25}], "max_weight_step", Imposed(25, ("p0", "p1"))),
        ([{}, {}], "max_weight_step", None),
        # requireHeaderPhase: required if any policy requires it
        ([{"requireHeaderPhase": False}, {"requireHeaderPhase": True}], "require_header_phase",
         Imposed(True, ("p1",))),
        ([{"requireHeaderPhase": False}, {}], "require_header_phase", None),
        # allowCrossNamespaceUpstreams: allowed only if every policy allows it (absent means false)
        ([{"allowCrossNamespaceUpstreams": True}, {"allowCrossNamespaceUpstreams": True}],
         "same_namespace_upstreams", None),
        ([{"allowCrossNamespaceUpstreams": True}, {}], "same_namespace_upstreams", Imposed(True, ("p1",))),
        # prefixes: every policy's list must be satisfied, each expanded for the namespace
        ([{"prefixes": ["/{namespace}"]}, {"prefixes": ["/shop/api", "/shared"]}, {}], "prefixes",
         (Imposed(("/shop",), ("p0",)), Imposed(("/shop/api", "/shared"), ("p1",)))),
        # apiGroup: one group (agreeing policies together), or a conflict of several
        ([{"apiGroup": "g"}, {"apiGroup": "g"}, {}], "api_groups", (Imposed("g", ("p0", "p1")),)),
        ([{"apiGroup": "g2"}, {"apiGroup": "g1"}], "api_groups", (Imposed("g1", ("p1",)), Imposed("g2", ("p0",)))),
        # enforcement: Enforce over Warn over Audit
        ([{"enforcement": "Audit"}, {"enforcement": "Warn"}], "enforcement", WARN),
        ([{"enforcement": "Audit"}, {}], "enforcement", ENFORCE),
        ([{"enforcement": "Audit"}], "enforcement", AUDIT),
    ],
)
def test_the_strictest_value_of_each_field_applies_and_names_its_policies(specs, attribute, expected):
    found = merged(*(policy(f"p{i}", **spec) for i, spec in enumerate(specs)))
    assert getattr(found, attribute) == expected
    assert found.policies == tuple(f"p{i}" for i in range(len(specs)))


def test_levels_merge_per_enforcement_strictest_first():
    found = levels([policy("w", enforcement="Warn", maxWeightStep=10), policy("e1", maxWeightStep=50),
                    policy("a", enforcement="Audit", prefixes=["/x"]), policy("e2", maxWeightStep=30)], NS)
    assert [(lv.enforcement, lv.policies) for lv in found] == [(ENFORCE, ("e1", "e2")), (WARN, ("w",)),
                                                               (AUDIT, ("a",))]
    # Within Enforce the smaller step wins; the Warn policy's stricter step stays a Warn rule.
    assert found[0].max_weight_step == Imposed(30, ("e2",)) and found[1].max_weight_step == Imposed(10, ("w",))


@pytest.mark.parametrize(("values", "expected"), [((), AUDIT), ((WARN, AUDIT), WARN), ((AUDIT, ENFORCE), ENFORCE)])
def test_strictest_enforcement(values, expected):
    assert strictest(values) == expected


def test_rules_and_dict_for_status():
    p = policy("team", apiGroup="g", maxWeightStep=25, requireHeaderPhase=True, prefixes=["/{namespace}", "/s"])
    assert p.rules(NS) == ["apiGroup=g", "maxWeightStep=25", "requireHeaderPhase=true", "prefixes=/shop,/s",
                           "allowCrossNamespaceUpstreams=false"]
    assert policy("open", allowCrossNamespaceUpstreams=True, prefixes=[]).rules(NS) == [
        "prefixes=(none)", "allowCrossNamespaceUpstreams=true"]
    assert p.to_dict(NS) == {"name": "team", "enforcement": "Enforce", "apiGroup": "g", "maxWeightStep": 25,
                             "requireHeaderPhase": True, "prefixes": ["/shop", "/s"],
                             "allowCrossNamespaceUpstreams": False}
    assert policy("bare").to_dict(NS)["prefixes"] is None


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
    assert steps_over(old, new, limit) == expected


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
    assert steps_over(old, new, 10) == [Shift("/echo", V2, 20, 100)]
    assert steps_over(new, old, 10) == [Shift("/echo", V1, 0, 80)]


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
    assert shifts(rt(split({"v1": 80, "v2": 20})), rt(split({"v1": 70, "v2": 30}))) == [
        Shift("/echo", V1, 80, 70), Shift("/echo", V2, 20, 30)]
    # weights totalling 0 send nothing (Gloo refuses them): no shares to compare
    assert shifts(rt(split({"v1": 0, "v2": 0})), rt(single("v2"))) == []
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
    assert unphased(old, new) == expected


def test_a_route_whose_every_matcher_has_headers_is_a_header_route():
    # Matchers are ORed: a second matcher without headers lets every request of /echo through.
    mixed = {"matchers": [{"prefix": "/echo", "headers": [{"name": "a", "value": "b"}]}, {"prefix": "/echo"}],
             "routeAction": {"single": dest("v2")}}
    assert unphased(rt(single("v1")), rt(mixed, single("v1", prefix="/x"))) == [Unphased("/echo [a=b]", V2, 100)]


def test_an_inverted_header_matcher_is_no_header_phase():
    # invertMatch takes every request *without* the header: v2 got all the traffic, not a header-matched phase
    inverted = {"matchers": [{"prefix": "/echo",
                              "headers": [{"name": "stage", "value": "canary", "invertMatch": True}]}],
                "routeAction": {"single": dest("v2")}}
    assert unphased(rt(single("v1")), rt(inverted, single("v1", prefix="/x"))) == [
        Unphased("/echo [stage=canary]", V2, 100)]
    assert unphased(rt(inverted, single("v1")), rt(split({"v1": 70, "v2": 30}))) == []  # it had traffic: known


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
