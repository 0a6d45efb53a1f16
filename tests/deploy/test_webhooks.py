"""The two `kubectl-canary` webhook configurations, as both kustomize installs render them: the webhook
names, paths and rules of the contract, the failure policies deploy/README.md documents, and the
settings that keep the cluster safe when the webhook is slow or down.
"""

from __future__ import annotations

import pytest

from kubectl_canary.core import names

from .render import NAMESPACE, Obj, find

ROUTETABLES = {"apiGroups": ["gateway.solo.io"], "apiVersions": ["v1"], "resources": ["routetables"],
               "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}
UPSTREAMS = {"apiGroups": ["gloo.solo.io"], "apiVersions": ["v1"], "resources": ["upstreams"],
             "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}
DEPLOYMENT_DELETES = {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"],
                      "operations": ["DELETE"], "scope": "Namespaced"}

# webhook name -> (configuration kind, path, rules, failurePolicy)
WEBHOOKS = {
    names.WEBHOOK_MUTATE: ("MutatingWebhookConfiguration", "/mutate", [ROUTETABLES], "Fail"),
    names.WEBHOOK_VALIDATE: ("ValidatingWebhookConfiguration", "/validate", [ROUTETABLES], "Fail"),
    # Ignore: a webhook outage must never block deleting Deployments or draining nodes.
    names.WEBHOOK_DEPLOYMENTS: ("ValidatingWebhookConfiguration", "/validate", [DEPLOYMENT_DELETES], "Ignore"),
    # Ignore: Gloo's status writes on every Upstream must not stop while the webhook is down.
    names.WEBHOOK_UPSTREAMS: ("ValidatingWebhookConfiguration", "/validate", [UPSTREAMS], "Ignore"),
}


def webhooks(objs: list[Obj]) -> dict[str, tuple[str, Obj]]:
    """Every webhook in the kubectl-canary configurations, by name: (configuration kind, webhook)."""
    found: dict[str, tuple[str, Obj]] = {}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in find(objs, kind, "kubectl-canary")["webhooks"]:
            assert webhook["name"] not in found, f"duplicate webhook {webhook['name']}"
            found[webhook["name"]] = (kind, webhook)
    return found


def test_exactly_the_four_webhooks_of_the_contract(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    assert {name: kind for name, (kind, _) in webhooks(objs).items()} == {
        name: spec[0] for name, spec in WEBHOOKS.items()
    }


@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_path_rules_and_failure_policy(install: tuple[str, list[Obj]], name: str) -> None:
    _, objs = install
    _, path, rules, failure_policy = WEBHOOKS[name]
    _, webhook = webhooks(objs)[name]
    assert webhook["clientConfig"]["service"] == {
        "name": "canary-webhook", "namespace": NAMESPACE, "path": path, "port": 443,
    }
    assert "url" not in webhook["clientConfig"]
    assert webhook["rules"] == rules
    assert webhook["failurePolicy"] == failure_policy


# (field, check, what a user would notice if it failed)
COMMON = [
    ("sideEffects", lambda v: v == "None", "dry-run requests (kubectl --dry-run=server) would be refused"),
    ("admissionReviewVersions", lambda v: v == ["v1"], "the server only speaks admission.k8s.io/v1"),
    ("timeoutSeconds", lambda v: isinstance(v, int) and 1 <= v <= 10, "every write would wait long on an outage"),
    ("matchPolicy", lambda v: v == "Equivalent", "writes through another API version would skip the guard"),
]


@pytest.mark.parametrize(("field", "check", "why"), COMMON, ids=[c[0] for c in COMMON])
@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_common_settings(install: tuple[str, list[Obj]], name: str, field: str, check, why: str) -> None:
    _, objs = install
    _, webhook = webhooks(objs)[name]
    assert check(webhook.get(field)), f"{name}: {field}={webhook.get(field)!r}: {why}"


@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_never_intercepts_kube_system_or_its_own_namespace(install: tuple[str, list[Obj]], name: str) -> None:
    _, objs = install
    _, webhook = webhooks(objs)[name]
    selector = webhook["namespaceSelector"]
    excluded = [
        set(e.get("values", [])) for e in selector.get("matchExpressions", [])
        if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"
    ]
    assert any({"kube-system", NAMESPACE} <= values for values in excluded), selector
    assert "matchLabels" not in selector, "all other namespaces must be intercepted"


def test_mutation_is_reinvoked_if_another_webhook_changes_the_object(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    _, webhook = webhooks(objs)[names.WEBHOOK_MUTATE]
    assert webhook["reinvocationPolicy"] == "IfNeeded"


@pytest.mark.parametrize("name", [names.WEBHOOK_MUTATE, names.WEBHOOK_VALIDATE, names.WEBHOOK_UPSTREAMS])
def test_status_only_updates_are_not_sent(install: tuple[str, list[Obj]], name: str) -> None:
    # Gloo's status writes are full UPDATEs that change neither spec, labels nor annotations; the CEL
    # condition skips them (tests/e2e/test_webhook_cluster.py shows it with real Gloo).
    _, objs = install
    _, webhook = webhooks(objs)[name]
    [condition] = webhook["matchConditions"]
    expression = " ".join(condition["expression"].split())
    assert expression.startswith("request.operation != 'UPDATE' || ")
    for field in ("object.spec", "object.metadata.labels", "object.metadata.annotations"):
        assert f"(has({field}) ? {field} : {{}}) != (has(old{field[0].upper()}{field[1:]}) ? " in expression


def test_deployment_deletes_have_no_match_condition(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    assert "matchConditions" not in webhooks(objs)[names.WEBHOOK_DEPLOYMENTS][1]
