"""Least privilege, decided from the RBAC objects of each kustomize install the way the API server's RBAC
authorizer decides it: the webhook's ServiceAccount can fill its watch caches, manage its own TLS Secret
and caBundle when it manages its certificate, and nothing else (no Secrets elsewhere, no writes on
RouteTables or Deployments). tests/e2e/test_deploy.py asks the same questions of a real API server.
"""

from __future__ import annotations

import pytest

from .rbac_cases import CASES, SERVICE_ACCOUNT, Access
from .render import NAMESPACE, Obj, find, of_kind

READ = {"get", "list", "watch"}
WEBHOOK_CONFIGS = {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
CACHED = {("gloo.solo.io", "upstreams"), ("apps", "deployments"), ("", "namespaces"), ("", "services"),
          ("gateway.solo.io", "routetables"), ("policy.kubectl-canary.io", "canarypolicies")}


def binds_webhook(binding: Obj) -> bool:
    return any(
        s["kind"] == "ServiceAccount" and (s.get("namespace"), s["name"]) == SERVICE_ACCOUNT
        for s in binding.get("subjects", [])
    )


def granted(objs: list[Obj]) -> list[tuple[str | None, Obj]]:
    """(namespace the rule applies in, None for everywhere; rule) for every rule bound to the webhook."""
    out: list[tuple[str | None, Obj]] = []
    for binding in of_kind(objs, "ClusterRoleBinding") + of_kind(objs, "RoleBinding"):
        if not binds_webhook(binding):
            continue
        ref = binding["roleRef"]
        where = binding["metadata"].get("namespace")  # a RoleBinding grants only in its namespace
        role = find(objs, ref["kind"], ref["name"]) if ref["kind"] == "ClusterRole" else next(
            r for r in of_kind(objs, "Role") if r["metadata"]["name"] == ref["name"]
            and r["metadata"]["namespace"] == where
        )
        out += [(where, rule) for rule in role["rules"]]
    return out


def allows(objs: list[Obj], access: Access) -> bool:
    """The RBAC authorizer's answer for the webhook's ServiceAccount (rules only add; no deny rules)."""
    for where, rule in granted(objs):
        if where is not None and where != access.namespace:
            continue
        if (
            access.verb in rule["verbs"] or "*" in rule["verbs"]
        ) and (
            access.group in rule["apiGroups"] or "*" in rule["apiGroups"]
        ) and (
            access.resource in rule["resources"] or "*" in rule["resources"]
        ) and (
            not rule.get("resourceNames") or access.name in rule["resourceNames"]
        ):
            return True
    return False


@pytest.mark.parametrize("access", CASES, ids=[c.id for c in CASES])
def test_service_account_access(install: tuple[str, list[Obj]], access: Access) -> None:
    variant, objs = install
    expected = access.self_managed if variant == "base" else access.cert_manager
    assert allows(objs, access) is expected, f"{variant}: {access.id} should be {'allowed' if expected else 'denied'}"


def test_cluster_roles_read_or_patch_own_webhook_configurations_only(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    for where, rule in granted(objs):
        if where is not None:
            continue
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        assert "secrets" not in rule["resources"], "cluster-wide Secret access"
        if set(rule["verbs"]) <= READ and not rule.get("resourceNames"):
            continue
        # The only other cluster-wide rule: its own two webhook configurations, by name.
        assert set(rule["resources"]) <= WEBHOOK_CONFIGS, rule
        assert rule["resourceNames"] == ["kubectl-canary"], rule
        assert set(rule["verbs"]) <= READ | {"patch"}, rule


def test_cluster_roles_read_exactly_what_the_webhook_caches(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    reads = {
        (group, resource)
        for where, rule in granted(objs) if where is None and not rule.get("resourceNames")
        for group in rule["apiGroups"] for resource in rule["resources"]
    }
    assert reads == CACHED


def test_secret_rules_are_confined_to_canary_system(install: tuple[str, list[Obj]]) -> None:
    variant, objs = install
    secret_rules = [(where, rule) for where, rule in granted(objs) if "secrets" in rule["resources"]]
    if variant == "cert-manager":
        assert secret_rules == [], "with cert-manager the webhook only reads its mounted certificate"
        return
    assert secret_rules
    for where, rule in secret_rules:
        assert where == NAMESPACE
        assert rule["resources"] == ["secrets"]
        if rule.get("resourceNames"):
            assert rule["resourceNames"] == ["canary-webhook-tls"]
        else:  # create cannot be limited by name; nothing else may go without a name
            assert rule["verbs"] == ["create"]


def test_every_binding_names_only_the_webhook(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    for binding in of_kind(objs, "ClusterRoleBinding") + of_kind(objs, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "canary-webhook", "namespace": NAMESPACE}
        ], binding["metadata"]["name"]
