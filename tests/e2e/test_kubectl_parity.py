"""Where the plugin claims kubectl's behaviour, the built kubectl on the same inputs says what it is (a
differential test, not a table of ours): label selectors, both the string form `--selector` takes and a
CanaryPolicy's structured namespaceSelector, against real objects of the e2e API server.

(The kubeconfig rules and `--request-timeout` are compared with kubectl without a cluster, in
tests/store/test_kubeconfig.py and tests/cli/test_cli_commands.py.)
"""

from __future__ import annotations

import json

import pytest

from kubectl_canary.core.selector import label_selector, matcher

from .controlplane import ControlPlane

# One ConfigMap per label set, in a namespace of its own: every selector is asked of all of them.
LABEL_SETS = {
    "managed": {"app.kubernetes.io/managed-by": "kubectl-canary", "apiGroup": "example"},
    "other-group": {"app.kubernetes.io/managed-by": "kubectl-canary", "apiGroup": "other"},
    "shop": {"team": "web", "env": "prod", "kubernetes.io/metadata.name": "shop"},
    "dev": {"team": "web", "env": "dev"},
    "sandbox": {"env": "staging", "sandbox": "yes", "owner": "web"},
    "empty-value": {"apiGroup": "", "team": "web"},
    "none": {},
}

STRING_SELECTORS = [
    "", "app.kubernetes.io/managed-by=kubectl-canary", "apiGroup==example", "apiGroup=other", "apiGroup!=other",
    "apiGroup!=example", "apiGroup", "team", "!team", "!apiGroup", "apiGroup=",  "apiGroup!=",
    "apiGroup=example, app.kubernetes.io/managed-by=kubectl-canary", "apiGroup=example,team", "team=web,!sandbox",
    "env!=prod,team",
]

STRUCTURED_SELECTORS = [
    {}, {"matchLabels": {}}, {"matchLabels": {"team": "web"}}, {"matchLabels": {"team": "web", "env": "dev"}},
    {"matchLabels": {"owner": "web"}}, {"matchLabels": {"apiGroup": ""}},
    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]},
    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
    {"matchExpressions": [{"key": "owner", "operator": "In", "values": ["web"]}]},
    {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
    {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
    {"matchExpressions": [{"key": "owner", "operator": "NotIn", "values": ["web"]}]},
    {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "owner", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "owner", "operator": "DoesNotExist"}]},
    {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]},
    {"matchLabels": {"team": "web"}, "matchExpressions": [{"key": "sandbox", "operator": "DoesNotExist"},
                                                           {"key": "env", "operator": "In", "values": ["prod"]}]},
    {"matchLabels": {"team": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
    {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
    {"matchExpressions": [{"key": "apiGroup", "operator": "In", "values": [""]}]},
]


@pytest.fixture(scope="module")
def labelled(control_plane: ControlPlane) -> str:
    """A namespace holding one ConfigMap per label set (deleted with the session's cluster)."""
    namespace = "e2e-kubectl-parity"
    control_plane.kubectl("create", "namespace", namespace)
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                    "labels": labels}}
             for name, labels in LABEL_SETS.items()]
    control_plane.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return namespace


def kubectl_selects(control_plane: ControlPlane, namespace: str, selector: str) -> set[str]:
    shown = control_plane.kubectl("get", "configmaps", "-n", namespace, f"--selector={selector}", "-o", "name")
    return {line.removeprefix("configmap/") for line in shown.stdout.split()} - {"kube-root-ca.crt"}


@pytest.mark.parametrize("selector", STRING_SELECTORS)
def test_a_selector_string_selects_what_kubectl_selects(control_plane: ControlPlane, labelled: str,
                                                         selector: str) -> None:
    ours = {name for name, labels in LABEL_SETS.items() if matcher(selector)(labels)}
    assert ours == kubectl_selects(control_plane, labelled, selector)


@pytest.mark.parametrize("selector", STRUCTURED_SELECTORS, ids=json.dumps)
def test_a_namespace_selector_selects_what_kubectl_selects(control_plane: ControlPlane, labelled: str,
                                                            selector: dict) -> None:
    parsed = label_selector(selector, "namespaceSelector")
    ours = {name for name, labels in LABEL_SETS.items() if parsed.matches(labels)}
    # str(parsed) is the selector in kubectl's syntax, as the plugin shows it: kubectl reads it the same way.
    assert ours == kubectl_selects(control_plane, labelled, str(parsed)), str(parsed)
