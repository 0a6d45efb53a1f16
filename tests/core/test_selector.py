"""Label selectors: the string form the directory and memory stores evaluate, and the LabelSelector of policies."""

from __future__ import annotations

import pytest

from kubectl_canary.core.errors import InvalidObject, UsageError
from kubectl_canary.core.selector import Expression, LabelSelector, label_selector, matcher

LABELS = {"app.kubernetes.io/managed-by": "kubectl-canary", "apiGroup": "example"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (None, True), ("", True),
        ("app.kubernetes.io/managed-by=kubectl-canary", True), ("apiGroup==example", True),
        ("apiGroup=other", False), ("apiGroup!=other", True), ("apiGroup!=example", False),
        ("apiGroup", True), ("team", False), ("!team", True), ("!apiGroup", False),
        ("apiGroup=example, app.kubernetes.io/managed-by=kubectl-canary", True), ("apiGroup=example,team", False),
    ],
)
def test_selector_terms(selector, matches):
    # kubectl's own answers on the same selectors: tests/e2e/test_kubectl_parity.py
    assert matcher(selector)(LABELS) is matches


@pytest.mark.parametrize("selector", ["env in (a,b)", "env notin (a)"])
def test_set_based_selectors_are_refused(selector):
    with pytest.raises(UsageError, match="set-based"):
        matcher(selector)


# LabelSelector: the structured form of a CanaryPolicy's namespaceSelector

NS_LABELS = {"team": "web", "env": "prod", "kubernetes.io/metadata.name": "shop"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {}}, True),
        ({"matchLabels": {"team": "web"}}, True),
        ({"matchLabels": {"team": "web", "env": "dev"}}, False),
        ({"matchLabels": {"owner": "web"}}, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}, False),
        ({"matchExpressions": [{"key": "owner", "operator": "In", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, False),
        # Kubernetes: an absent label is "not in" every set.
        ({"matchExpressions": [{"key": "owner", "operator": "NotIn", "values": ["web"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "owner", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "owner", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, False),
        # Every term must hold: labels and expressions together.
        ({"matchLabels": {"team": "web"}, "matchExpressions": [{"key": "sandbox", "operator": "DoesNotExist"},
                                                                {"key": "env", "operator": "In", "values": ["prod"]}]},
         True),
        ({"matchLabels": {"team": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
         False),
        ({"matchLabels": {"kubernetes.io/metadata.name": "shop"}}, True),
    ],
)
def test_label_selector_matches_like_the_api_server(selector, matches):
    # compared with `kubectl get --selector` on real objects in tests/e2e/test_kubectl_parity.py
    assert label_selector(selector, "namespaceSelector").matches(NS_LABELS) is matches


def test_label_selector_string_form_is_kubectls():
    selector = label_selector({"matchLabels": {"team": "web"}, "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["a", "b"]}, {"key": "env", "operator": "NotIn", "values": ["c"]},
        {"key": "x", "operator": "Exists"}, {"key": "y", "operator": "DoesNotExist"}]}, "s")
    assert str(selector) == "team=web,env in (a,b),env notin (c),x,!y"
    assert str(LabelSelector()) == ""
    assert selector.match_expressions[0] == Expression("env", "In", ("a", "b"))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("team=web", "spec.namespaceSelector must be a label selector"),
        ({"matchLabels": {"team": 1}}, "spec.namespaceSelector.matchLabels must map label keys to string values"),
        ({"matchExpressions": {"key": "a"}}, "spec.namespaceSelector.matchExpressions must be a list"),
        ({"matchExpressions": [{"key": "a", "operator": "Like"}]},
         r"matchExpressions\[0\].operator must be one of In, NotIn, Exists, DoesNotExist, not 'Like'"),
        ({"matchExpressions": [{"operator": "Exists"}]}, r"matchExpressions\[0\].key must be a non-empty string"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, r"matchExpressions\[0\]: operator In needs values"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
         r"matchExpressions\[0\]: operator Exists takes no values"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
         r"matchExpressions\[0\].values must be a list of strings"),
    ],
)
def test_a_malformed_label_selector_is_named(selector, message):
    with pytest.raises(InvalidObject, match=message):
        label_selector(selector, "spec.namespaceSelector")
