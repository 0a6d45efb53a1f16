"""Label selectors as the directory and memory stores evaluate them."""

from __future__ import annotations

import pytest

from kubectl_canary.core.errors import UsageError
from kubectl_canary.core.selector import matcher

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
    assert matcher(selector)(LABELS) is matches


@pytest.mark.parametrize("selector", ["env in (a,b)", "env notin (a)"])
def test_set_based_selectors_are_refused(selector):
    with pytest.raises(UsageError, match="set-based"):
        matcher(selector)
