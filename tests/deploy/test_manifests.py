"""The files under deploy/: they parse, kustomize renders them into the expected install, the CRD
carries the CanaryPolicy schema of the contract, and the Helm chart's CRD cannot drift from the base one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .render import CHART, CRD_FILE, DEPLOY, EXAMPLE_POLICY, NAMESPACE, Obj, find

# Helm templates are Go templates, not YAML; they are rendered and checked by tests/e2e/test_deploy.py.
TEMPLATES = CHART / "templates"
YAML_FILES = sorted(
    p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and TEMPLATES not in p.parents
)
# YAML files that are not Kubernetes (or kustomize) objects.
NOT_OBJECTS = {CHART / "Chart.yaml", CHART / "values.yaml"}

# Everything `kubectl apply -k deploy/` creates, by (kind, namespace, name).
BASE_INSTALL = {
    ("CustomResourceDefinition", "", "canarypolicies.policy.kubectl-canary.io"),
    ("Namespace", "", NAMESPACE),
    ("ServiceAccount", NAMESPACE, "canary-webhook"),
    ("ClusterRole", "", "canary-webhook"),
    ("ClusterRoleBinding", "", "canary-webhook"),
    ("ClusterRole", "", "canary-webhook-cabundle"),
    ("ClusterRoleBinding", "", "canary-webhook-cabundle"),
    ("Role", NAMESPACE, "canary-webhook-tls"),
    ("RoleBinding", NAMESPACE, "canary-webhook-tls"),
    ("Deployment", NAMESPACE, "canary-webhook"),
    ("PodDisruptionBudget", NAMESPACE, "canary-webhook"),
    ("Service", NAMESPACE, "canary-webhook"),
    ("MutatingWebhookConfiguration", "", "kubectl-canary"),
    ("ValidatingWebhookConfiguration", "", "kubectl-canary"),
}


def _key(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def test_there_are_manifests_to_check() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"kustomization.yaml", "base/kustomization.yaml", "base/crd-canarypolicy.yaml",
            "examples/example-policy.yaml", "overlays/cert-manager/kustomization.yaml",
            "helm/canary-webhook/Chart.yaml", "helm/canary-webhook/values.yaml",
            "helm/canary-webhook/crds/crd-canarypolicy.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
        if path not in NOT_OBJECTS:
            assert doc.get("apiVersion") and doc.get("kind"), f"{path}: a document lacks apiVersion or kind"


def test_chart_values_schema_is_json() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    # The schema forbids unknown keys, so every default value must be declared in it.
    assert set(values) <= set(schema["properties"])


def test_kustomize_installs_exactly_the_webhook(base_objects: list[Obj]) -> None:
    assert {_key(o) for o in base_objects} == BASE_INSTALL


def test_every_namespaced_object_is_in_canary_system(install: tuple[str, list[Obj]]) -> None:
    _, objs = install
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                      "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    for obj in objs:
        namespace = obj["metadata"].get("namespace")
        assert namespace == (None if obj["kind"] in cluster_scoped else NAMESPACE), _key(obj)


def test_namespace_and_crd_are_applied_before_what_needs_them(base_objects: list[Obj]) -> None:
    kinds = [o["kind"] for o in base_objects]
    assert kinds.index("Namespace") < min(i for i, o in enumerate(base_objects) if o["metadata"].get("namespace"))
    assert kinds.index("CustomResourceDefinition") < kinds.index("Deployment")


# ---- the CanaryPolicy CRD -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd() -> Obj:
    return yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec_schema(crd: Obj) -> Obj:
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_crd_names_match_the_contract(crd: Obj) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "canarypolicies.policy.kubectl-canary.io"
    assert spec["group"] == "policy.kubectl-canary.io"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == "CanaryPolicy"
    assert spec["names"]["plural"] == "canarypolicies"
    assert "cpol" in spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("namespaceSelector", {"type": "object"}),
        ("apiGroup", {"type": "string"}),
        ("enforcement", {"type": "string", "enum": ["Enforce", "Warn", "Audit"]}),
        ("maxWeightStep", {"type": "integer", "minimum": 1, "maximum": 100}),
        ("requireHeaderPhase", {"type": "boolean"}),
        ("prefixes", {"type": "array"}),
        ("allowCrossNamespaceUpstreams", {"type": "boolean", "default": False}),
        ("exemptNamespaces", {"type": "array"}),
    ],
)
def test_crd_schema_declares_each_policy_field(spec_schema: Obj, field: str, expected: Obj) -> None:
    assert {k: spec_schema[field].get(k) for k in expected} == expected


def test_crd_schema_declares_no_other_field(spec_schema: Obj) -> None:
    assert set(spec_schema) == {
        "namespaceSelector", "apiGroup", "enforcement", "maxWeightStep", "requireHeaderPhase", "prefixes",
        "allowCrossNamespaceUpstreams", "exemptNamespaces", "analysis",
    }


def test_crd_analysis_section_declares_what_the_plugin_reads(spec_schema: Obj) -> None:
    from kubectl_canary.core.analysis_policy import KEYS

    assert set(spec_schema["analysis"]["properties"]) == set(KEYS)


def test_crd_list_fields_hold_strings(spec_schema: Obj) -> None:
    for field in ("prefixes", "exemptNamespaces"):
        assert spec_schema[field]["items"]["type"] == "string", field


def test_crd_namespace_selector_is_a_label_selector(spec_schema: Obj) -> None:
    selector = spec_schema["namespaceSelector"]["properties"]
    assert selector["matchLabels"]["additionalProperties"] == {"type": "string"}
    expression = selector["matchExpressions"]["items"]
    assert set(expression["required"]) == {"key", "operator"}
    assert expression["properties"]["operator"]["enum"] == ["In", "NotIn", "Exists", "DoesNotExist"]
    assert expression["properties"]["values"]["items"] == {"type": "string"}


def test_crd_prints_the_policy_at_a_glance(crd: Obj) -> None:
    (version,) = crd["spec"]["versions"]
    paths = {c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert {".spec.enforcement", ".spec.apiGroup", ".spec.maxWeightStep", ".metadata.creationTimestamp"} <= paths


def test_chart_crd_is_a_copy_of_the_base_crd() -> None:
    chart_crd = CHART / "crds" / "crd-canarypolicy.yaml"
    assert chart_crd.read_bytes() == CRD_FILE.read_bytes(), (
        f"{chart_crd} differs from {CRD_FILE}: copy the base CRD over it"
    )


def test_example_policy_uses_only_schema_fields(crd: Obj, spec_schema: Obj) -> None:
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    assert policy["apiVersion"] == f"{crd['spec']['group']}/v1alpha1"
    assert policy["kind"] == "CanaryPolicy"
    assert "namespace" not in policy["metadata"], "CanaryPolicy is cluster-scoped"
    assert set(policy["spec"]) <= set(spec_schema)
    assert policy["spec"]["enforcement"] in spec_schema["enforcement"]["enum"]
    assert policy["spec"]["exemptNamespaces"] == ["sandbox"]
    assert policy["spec"]["prefixes"] == ["/{namespace}"]


def test_base_leaves_ca_bundles_empty(base_objects: list[Obj]) -> None:
    # Self-managed TLS patches them in; a caBundle in the manifest would be reset by every re-apply.
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in find(base_objects, kind, "kubectl-canary")["webhooks"]:
            assert "caBundle" not in webhook["clientConfig"], webhook["name"]
