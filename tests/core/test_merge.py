"""How an applied object lands on a stored one in the directory and memory stores (server-side apply's rule)."""

from __future__ import annotations

import pytest

from kubectl_canary.core.merge import merge_applied

LIVE = {
    "metadata": {"name": "x", "labels": {"team": "a", "kubectl-canary.io/old": "1"},
                 "annotations": {"kubectl-canary.io/canary": "v2", "kubectl-canary.io/weight": "50", "note": "keep"}},
    "spec": {"replicas": 3, "routes": [1, 2],
             "template": {"spec": {"containers": [{"name": "c", "image": "a", "args": ["-x"], "resources": {"r": 1}},
                                                  {"name": "sidecar", "image": "s"}]}}},
}


@pytest.mark.parametrize(
    ("applied", "path", "expected"),
    [
        ({"spec": {"replicas": 1}}, ("spec", "replicas"), 1),
        ({"spec": {"replicas": 1}}, ("spec", "routes"), [1, 2]),
        ({"spec": {"routes": [3]}}, ("spec", "routes"), [3]),
        ({"metadata": {"annotations": {"kubectl-canary.io/phase": "stable"}}}, ("metadata", "annotations"),
         {"kubectl-canary.io/phase": "stable", "note": "keep"}),
        ({"metadata": {"name": "x"}}, ("metadata", "annotations"), {"note": "keep"}),
        ({"metadata": {"name": "x"}}, ("metadata", "labels"), {"team": "a"}),
        ({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}},
         ("spec", "template", "spec", "containers"), [{"name": "c", "image": "b", "resources": {"r": 1}}]),
        ({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b", "args": ["-y"]}]}}}},
         ("spec", "template", "spec", "containers", 0, "args"), ["-y"]),
    ],
)
def test_merge_applied(applied, path, expected):
    merged = merge_applied(LIVE, applied)
    for key in path:
        merged = merged[key]
    assert merged == expected


def test_merge_applied_on_nothing_is_a_copy_and_inputs_are_untouched():
    applied = {"metadata": {"name": "x"}}
    result = merge_applied(None, applied)
    assert result == applied and result is not applied
    merge_applied(LIVE, {"metadata": {"name": "x"}})
    assert "kubectl-canary.io/canary" in LIVE["metadata"]["annotations"]


def test_a_label_map_left_with_nothing_is_removed():
    live = {"metadata": {"annotations": {"kubectl-canary.io/role": "primary"}}}
    assert merge_applied(live, {"metadata": {"name": "x"}}) == {"metadata": {"name": "x"}}
