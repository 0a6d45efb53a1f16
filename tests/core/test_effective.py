"""The strictest merge of the policies that govern a namespace."""

from __future__ import annotations

import pytest

from kubectl_canary.core.effective import Imposed, effective, levels, strictest
from kubectl_canary.core.policy import AUDIT, ENFORCE, WARN, Policy
from tests.core.policies import NS, policy

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


