"""The cert-manager overlay: cert-manager issues the serving certificate the Service name needs, from a
CA of its own, into the Secret the Deployment mounts, and cainjector is told to fill in both caBundles.
"""

from __future__ import annotations

import pytest

from .render import NAMESPACE, Obj, find, of_kind

SERVICE_DNS = f"canary-webhook.{NAMESPACE}.svc"


def test_overlay_adds_the_issuer_chain(overlay_objects: list[Obj]) -> None:
    certs = {c["metadata"]["name"]: c for c in of_kind(overlay_objects, "Certificate")}
    issuers = {i["metadata"]["name"]: i for i in of_kind(overlay_objects, "Issuer")}
    assert set(certs) == {"canary-webhook", "canary-webhook-ca"}
    assert set(issuers) == {"canary-webhook-selfsigned", "canary-webhook-ca"}
    # selfSigned -> CA certificate -> CA issuer -> serving certificate
    assert certs["canary-webhook-ca"]["spec"]["isCA"] is True
    assert certs["canary-webhook-ca"]["spec"]["issuerRef"]["name"] == "canary-webhook-selfsigned"
    assert "selfSigned" in issuers["canary-webhook-selfsigned"]["spec"]
    assert issuers["canary-webhook-ca"]["spec"]["ca"]["secretName"] == certs["canary-webhook-ca"]["spec"]["secretName"]
    assert certs["canary-webhook"]["spec"]["issuerRef"]["name"] == "canary-webhook-ca"
    for obj in list(certs.values()) + list(issuers.values()):
        assert obj["metadata"]["namespace"] == NAMESPACE


def test_serving_certificate_covers_the_service_and_fills_the_mounted_secret(overlay_objects: list[Obj]) -> None:
    cert = find(overlay_objects, "Certificate", "canary-webhook")["spec"]
    assert SERVICE_DNS in cert["dnsNames"]
    assert "server auth" in cert["usages"]
    pod = find(overlay_objects, "Deployment", "canary-webhook")["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": cert["secretName"], "defaultMode": 0o440}} in pod["volumes"]
    assert cert["secretName"] == "canary-webhook-tls"


@pytest.mark.parametrize("kind", ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"])
def test_cainjector_fills_both_ca_bundles_from_the_serving_certificate(overlay_objects: list[Obj], kind: str) -> None:
    config = find(overlay_objects, kind, "kubectl-canary")
    source = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    namespace, name = source.split("/")
    find(overlay_objects, "Certificate", name)  # the annotation names a Certificate the overlay creates
    assert namespace == NAMESPACE
    assert all("caBundle" not in w["clientConfig"] for w in config["webhooks"])


def test_overlay_drops_the_self_managed_tls_rbac(overlay_objects: list[Obj]) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in overlay_objects}
    for gone in [("Role", "canary-webhook-tls"), ("RoleBinding", "canary-webhook-tls"),
                 ("ClusterRole", "canary-webhook-cabundle"), ("ClusterRoleBinding", "canary-webhook-cabundle")]:
        assert gone not in names


def test_overlay_changes_nothing_else(base_objects: list[Obj], overlay_objects: list[Obj]) -> None:
    # Same webhooks, same read-only role, same Service: only TLS handling differs.
    for kind, name in [("ClusterRole", "canary-webhook"), ("Service", "canary-webhook"),
                       ("PodDisruptionBudget", "canary-webhook"), ("CustomResourceDefinition",
                                                                    "canarypolicies.policy.kubectl-canary.io")]:
        assert find(overlay_objects, kind, name) == find(base_objects, kind, name), (kind, name)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert find(overlay_objects, kind, "kubectl-canary")["webhooks"] == find(
            base_objects, kind, "kubectl-canary")["webhooks"]
