"""The rule registry: one set of rules for serve, review and the tests, each found from its name."""

from __future__ import annotations

import inspect

import pytest

from kubectl_canary.core.policy import ANALYSIS, ENFORCEMENT, EXEMPT_NAMESPACES, FIELDS, NAMESPACE_SELECTOR
from webhook.admission import mutation, validation
from webhook.admission.rules import RULES


@pytest.mark.parametrize("field", sorted(set(FIELDS) - {NAMESPACE_SELECTOR, EXEMPT_NAMESPACES, ENFORCEMENT, ANALYSIS}))
def test_every_policy_rule_is_registered_under_its_crd_field(field):
    # The fields that say what a policy imposes each have a check of that name; the others say where and how
    # (`analysis` holds defaults for the command that shifts, which judges; the webhook does not).
    check = RULES.checks[field]
    assert inspect.getmodule(check).__name__ == "webhook.admission.policy"


def test_the_app_and_review_decide_with_the_registry():
    # No decision function has a default set of rules that could silently leave policy out.
    for decide, rules in ((validation.validate, "checks"), (mutation.mutate, "mutators")):
        assert inspect.signature(decide).parameters[rules].default is inspect.Parameter.empty
    assert inspect.signature(mutation.api_group_mutator).parameters["sources"].default is inspect.Parameter.empty


def test_the_registry_cannot_be_changed_in_place_and_extends_by_copy():
    with pytest.raises(TypeError):
        RULES.checks["x"] = lambda ctx: []  # type: ignore[index]
    extended = RULES.with_checks(noFriday=lambda ctx: [])
    assert list(extended.checks) == [*RULES.checks, "noFriday"] and "noFriday" not in RULES.checks
