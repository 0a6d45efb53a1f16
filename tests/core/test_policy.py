"""CanaryPolicy as pure functions: reading, selection and exemptions."""

from __future__ import annotations

import pytest

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.policy import AUDIT, ENFORCE, WARN, Policy, governing, parse_policy, read_policies
from kubectl_canary.core.selector import LabelSelector
from tests.core.policies import NS, namespace, policy, policy_obj

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


