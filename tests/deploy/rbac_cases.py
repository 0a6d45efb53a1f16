"""What the webhook's ServiceAccount may and may not do, one row per request, for both TLS modes.

Shared by tests/deploy/test_rbac.py (evaluated against the RBAC objects of the manifests) and
tests/e2e/test_deploy.py (asked of the real API server with `kubectl auth can-i`, as that ServiceAccount).
"""

from __future__ import annotations

from typing import NamedTuple

SERVICE_ACCOUNT = ("canary-system", "canary-webhook")
SERVICE_ACCOUNT_USER = "system:serviceaccount:canary-system:canary-webhook"


class Access(NamedTuple):
    """One request: `namespace` None means all namespaces (or a cluster-scoped resource)."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    self_managed: bool = False  # allowed with self-managed TLS (deploy/, the default)
    cert_manager: bool = False  # allowed with the cert-manager overlay

    @property
    def id(self) -> str:
        where = self.namespace or "*"
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {what} {where}" + (f"/{self.name}" if self.name else "")


def _reads(group: str, resource: str) -> list[Access]:
    return [Access(verb, group, resource, None, None, True, True) for verb in ("get", "list", "watch")]


# The watch caches: allowed in both modes.
CACHES = [
    *_reads("gloo.solo.io", "upstreams"),
    *_reads("apps", "deployments"),
    *_reads("", "namespaces"),
    *_reads("gateway.solo.io", "routetables"),
    *_reads("policy.kubectl-canary.io", "canarypolicies"),
    Access("list", "apps", "deployments", "team-a", None, True, True),
]

# Self-managed TLS only: its own Secret and the caBundle of its own webhook configurations.
TLS = [
    Access("get", "", "secrets", "canary-system", "canary-webhook-tls", True, False),
    Access("update", "", "secrets", "canary-system", "canary-webhook-tls", True, False),
    # create cannot be restricted by name: any Secret, but only in canary-system.
    Access("create", "", "secrets", "canary-system", None, True, False),
    Access("get", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", None, "kubectl-canary", True),
    Access("patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", None, "kubectl-canary", True),
    Access("get", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None, "kubectl-canary", True),
    Access("patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None, "kubectl-canary", True),
]

# Never, in either mode.
DENIED = [
    Access("get", "", "secrets", "default", "canary-webhook-tls"),
    Access("get", "", "secrets", "team-a", "db-password"),
    Access("list", "", "secrets", None),
    Access("list", "", "secrets", "canary-system"),
    Access("watch", "", "secrets", "canary-system"),
    Access("get", "", "secrets", "canary-system", "some-other-secret"),
    Access("update", "", "secrets", "canary-system", "some-other-secret"),
    Access("delete", "", "secrets", "canary-system", "canary-webhook-tls"),
    Access("create", "", "secrets", "default"),
    Access("create", "gateway.solo.io", "routetables", "team-a"),
    Access("update", "gateway.solo.io", "routetables", "team-a", "echo-routes"),
    Access("patch", "gateway.solo.io", "routetables", "team-a", "echo-routes"),
    Access("delete", "gateway.solo.io", "routetables", "team-a", "echo-routes"),
    Access("create", "gloo.solo.io", "upstreams", "team-a"),
    Access("delete", "apps", "deployments", "team-a", "echo-v1"),
    Access("patch", "apps", "deployments", "team-a", "echo-v1"),
    Access("update", "", "namespaces", None, "team-a"),
    Access("create", "policy.kubectl-canary.io", "canarypolicies", None),
    Access("delete", "policy.kubectl-canary.io", "canarypolicies", None, "example"),
    Access("list", "", "pods", None),
    Access("list", "", "configmaps", None),
    Access("get", "gateway.solo.io", "virtualservices", "gloo-system", "app"),
    Access("list", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None),
    Access("patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None, "other-webhook"),
    Access("patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", None, "other-webhook"),
    Access("delete", "admissionregistration.k8s.io", "validatingwebhookconfigurations", None, "kubectl-canary"),
    Access("update", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", None, "kubectl-canary"),
    Access("create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
    Access("escalate", "rbac.authorization.k8s.io", "clusterroles", None, "canary-webhook"),
    Access("impersonate", "", "serviceaccounts", "kube-system", "default"),
]

CASES = CACHES + TLS + DENIED
