"""The install side of issue 5 against a real kube-apiserver (the e2e control plane):

- every manifest in deploy/ (each base file on its own, both kustomize installs, the example policy)
  and the Helm chart's rendered output (self-managed TLS, cert-manager, and every value set) passes
  `kubectl apply --dry-run=server --validate=strict`: the API server's own schemas, admission and
  Pod Security checks, with unknown fields as errors. Dry-run, because the webhook configurations
  would send every RouteTable write of the shared control plane to a webhook that does not run here,
  and the Deployment's pods cannot run without a kubelet;
- cert-manager kinds (Issuer, Certificate) are not validated by the server: cert-manager's CRDs are
  not installed here. They are checked for consistency instead (issuers, secrets and the cainjector
  annotation refer to each other and to the Deployment);
- the CanaryPolicy CRD and the example policy are really applied, and the CRD's schema refuses
  invalid policies;
- `helm lint --strict` passes, the values schema refuses bad values, and the chart renders the same
  install as kustomize;
- the webhook's RBAC, really applied and used by a client authenticating as the webhook's
  ServiceAccount, lets it list and watch what its caches hold and nothing else: no Secrets of other
  namespaces, no RouteTable writes (the same table as tests/deploy/test_rbac.py, asked of the server).

The namespace canary-system and the CanaryPolicy CRD stay in the shared control plane afterwards
(no namespace controller runs, so a deleted namespace would stay Terminating); everything else this
module creates is deleted again.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from deploy.rbac_cases import CASES, SERVICE_ACCOUNT_USER, Access
from deploy.render import (
    BASE,
    CHART,
    CRD_FILE,
    DEPLOY,
    EXAMPLE_POLICY,
    NAMESPACE,
    OVERLAY,
    Obj,
    find,
    kustomize,
    load_all,
    of_kind,
)

from . import tools
from .controlplane import ControlPlane

CERT_MANAGER_GROUP = "cert-manager.io"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
SA_GROUPS = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]

# Every chart value set to something other than its default, to render every template branch.
ALL_VALUES = [
    "--set", "replicaCount=3",
    "--set", "image.repository=registry.example/canary-webhook", "--set", "image.tag=1.2.3",
    "--set", "image.pullPolicy=Always",
    "--set", "failurePolicy.routeTables=Ignore", "--set", "failurePolicy.deployments=Fail",
    "--set", "timeoutSeconds=3",
    "--set-json", 'excludeNamespaces=["kube-system","gloo-system"]',
    "--set-json", 'namespaceSelector={"matchLabels":{"canary":"on"},'
                  '"matchExpressions":[{"key":"tier","operator":"In","values":["web"]}]}',
    "--set", "defaultApiGroup=example", "--set", "enforcement=warn",
    "--set-json", 'extraArgs=["--workers","4"]',
    "--set", "podDisruptionBudget.minAvailable=2",
    "--set-json", 'podAnnotations={"example.com/team":"platform"}',
    "--set-json", 'podLabels={"team":"platform"}',
    "--set-json", 'imagePullSecrets=[{"name":"pull"}]',
    "--set-json", 'nodeSelector={"kubernetes.io/os":"linux"}',
    "--set-json", 'tolerations=[{"key":"dedicated","operator":"Equal","value":"platform","effect":"NoSchedule"}]',
    "--set-json", 'affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":'
                  '[{"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["amd64"]}]}]}}}',
]

HELM_VARIANTS = {
    "self-managed": [],
    "cert-manager": ["--set", "tls.mode=cert-manager"],
    "cert-manager-external-issuer": [
        "--set", "tls.mode=cert-manager",
        "--set", "tls.certManager.issuerRef.kind=ClusterIssuer", "--set", "tls.certManager.issuerRef.name=corp-ca",
    ],
    "every-value": ALL_VALUES,
}


# ---- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubectl_path(control_plane: ControlPlane) -> str:
    """The built kubectl (its kustomize renders the manifests, matching the server's version)."""
    return str(tools.tool("kubectl"))


@pytest.fixture(scope="module")
def helm(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """helm(*args) -> stdout of the built helm; its cache/config/data dirs are private to the test."""
    home = tmp_path_factory.mktemp("helm")
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(tools.tool("helm")), *args], capture_output=True, text=True, env=env,
                              check=False, timeout=120)
        if check:
            assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
        return proc

    return run


def helm_template(helm: Callable[..., subprocess.CompletedProcess[str]], values: list[str]) -> list[Obj]:
    """The chart rendered as `helm install canary-webhook -n canary-system` would, CRD included."""
    proc = helm("template", "canary-webhook", str(CHART), "--namespace", NAMESPACE, "--include-crds", *values)
    return load_all(proc.stdout)


@pytest.fixture(scope="module")
def install_namespace(control_plane: ControlPlane) -> str:
    """canary-system really exists, so that namespaced objects can be dry-run into it."""
    control_plane.kubectl("apply", "-f", str(BASE / "namespace.yaml"))
    return NAMESPACE


@pytest.fixture(scope="module")
def policy_crd(control_plane: ControlPlane) -> str:
    """The CanaryPolicy CRD, really applied and Established."""
    (name,) = control_plane.install_crds([CRD_FILE])
    return name


def is_cert_manager(obj: Obj) -> bool:
    return obj["apiVersion"].split("/")[0] == CERT_MANAGER_GROUP


def dry_run(control_plane: ControlPlane, objs: list[Obj]) -> subprocess.CompletedProcess[str]:
    """Server-side dry-run with strict field validation; returns the finished kubectl run."""
    return control_plane.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-",
        input=yaml.safe_dump_all(objs, sort_keys=False), check=False,
    )


def assert_server_accepts(control_plane: ControlPlane, objs: list[Obj]) -> None:
    proc = dry_run(control_plane, objs)
    assert proc.returncode == 0, f"the API server refused:\n{proc.stderr}"
    accepted = proc.stdout.split()
    assert len(accepted) == len(objs), f"expected {len(objs)} objects, the server answered {accepted}"
    # The namespace warns on Pod Security violations: the Deployment's pod must meet "restricted".
    assert "PodSecurity" not in proc.stderr, proc.stderr
    assert "unknown field" not in proc.stderr, proc.stderr


def check_cert_manager_consistency(objs: list[Obj]) -> None:
    """What the server cannot check without cert-manager's CRDs: the objects refer to each other."""
    certs = {c["metadata"]["name"]: c for c in of_kind(objs, "Certificate")}
    issuers = {i["metadata"]["name"]: i for i in of_kind(objs, "Issuer")}
    assert all(o["metadata"]["namespace"] == NAMESPACE for o in [*certs.values(), *issuers.values()])
    for cert in certs.values():
        ref = cert["spec"]["issuerRef"]
        if ref.get("kind", "Issuer") == "Issuer" and ref["name"] not in issuers:
            pytest.fail(f"Certificate {cert['metadata']['name']} names a missing Issuer {ref['name']}")
    secrets = {c["spec"]["secretName"] for c in certs.values()}
    for issuer in issuers.values():
        if "ca" in issuer["spec"]:
            assert issuer["spec"]["ca"]["secretName"] in secrets
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        source = find(objs, kind, "kubectl-canary")["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert source == f"{NAMESPACE}/canary-webhook"
    serving = certs["canary-webhook"]["spec"]
    assert f"canary-webhook.{NAMESPACE}.svc" in serving["dnsNames"]
    pod = find(objs, "Deployment", "canary-webhook")["spec"]["template"]["spec"]
    assert serving["secretName"] in [v.get("secret", {}).get("secretName") for v in pod["volumes"]]


# ---- server-side validation of every manifest ---------------------------------------------------

BASE_FILES = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", BASE_FILES, ids=lambda p: p.name)
def test_each_base_manifest_passes_strict_server_validation(
    control_plane: ControlPlane, install_namespace: str, policy_crd: str, path: Path
) -> None:
    assert_server_accepts(control_plane, load_all(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("variant", ["deploy", "overlays/cert-manager"])
def test_kustomize_install_passes_strict_server_validation(
    control_plane: ControlPlane, install_namespace: str, policy_crd: str, kubectl_path: str, variant: str
) -> None:
    objs = kustomize(DEPLOY if variant == "deploy" else OVERLAY, kubectl_path)
    # cert-manager's CRDs are not installed here: those kinds are checked for consistency only.
    cert_manager = [o for o in objs if is_cert_manager(o)]
    assert_server_accepts(control_plane, [o for o in objs if not is_cert_manager(o)])
    if variant == "deploy":
        assert cert_manager == []
    else:
        check_cert_manager_consistency(objs)


@pytest.mark.parametrize("variant", HELM_VARIANTS)
def test_helm_chart_renders_objects_the_server_accepts(
    control_plane: ControlPlane, install_namespace: str, policy_crd: str, helm: Callable[..., object], variant: str
) -> None:
    objs = helm_template(helm, HELM_VARIANTS[variant])
    cert_manager = [o for o in objs if is_cert_manager(o)]
    assert_server_accepts(control_plane, [o for o in objs if not is_cert_manager(o)])
    if variant.startswith("cert-manager"):
        check_cert_manager_consistency(objs)
    else:
        assert cert_manager == []


def test_server_refuses_what_strict_validation_should_catch(
    control_plane: ControlPlane, install_namespace: str
) -> None:
    # The dry-runs above would prove little if a misspelt field were silently dropped.
    service = load_all((BASE / "service.yaml").read_text(encoding="utf-8"))[0]
    service["spec"]["ports"][0]["targetPorts"] = 8443
    proc = dry_run(control_plane, [service])
    assert proc.returncode != 0 and "targetPorts" in proc.stderr, proc.stderr


def test_the_namespace_warns_of_a_pod_that_breaks_restricted(
    control_plane: ControlPlane, install_namespace: str
) -> None:
    # The control for "no PodSecurity warning" above: the same dry-run of the shipped Deployment, its
    # security contexts removed, does warn, so this API server and namespace do say it when a pod breaks it.
    deployment = load_all((BASE / "deployment.yaml").read_text(encoding="utf-8"))[0]
    pod = deployment["spec"]["template"]["spec"]
    del pod["securityContext"]
    for container in pod["containers"]:
        container.pop("securityContext", None)
    proc = dry_run(control_plane, [deployment])
    assert proc.returncode == 0, proc.stderr  # enforce judges pods; the Deployment is admitted with a warning
    assert 'would violate PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    assert "allowPrivilegeEscalation != false" in proc.stderr and "runAsNonRoot != true" in proc.stderr, proc.stderr


# ---- the CanaryPolicy CRD, really applied -------------------------------------------------------


@pytest.fixture
def example_policy(control_plane: ControlPlane, policy_crd: str) -> Iterator[Obj]:
    """The example policy, really applied; deleted afterwards so it governs no other test's namespaces."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text(encoding="utf-8"))
    control_plane.kubectl("apply", "--validate=strict", "-f", str(EXAMPLE_POLICY))
    yield policy
    control_plane.kubectl("delete", "-f", str(EXAMPLE_POLICY), "--ignore-not-found", check=False)


def test_example_policy_is_stored_as_written(control_plane: ControlPlane, example_policy: Obj) -> None:
    stored = json.loads(control_plane.kubectl("get", "canarypolicy", "example", "-o", "json").stdout)
    assert stored["spec"] == example_policy["spec"]
    assert "namespace" not in stored["metadata"], "CanaryPolicy is cluster-scoped"


def test_policies_list_by_short_name_with_their_columns(control_plane: ControlPlane, example_policy: Obj) -> None:
    out = control_plane.kubectl("get", "cpol").stdout.splitlines()
    assert out[0].split() == ["NAME", "ENFORCEMENT", "API", "GROUP", "MAX", "STEP", "HEADER", "PHASE", "AGE"]
    assert out[1].split()[:5] == ["example", "Enforce", "example", "50", "true"]


def test_absent_allow_cross_namespace_upstreams_defaults_to_false(
    control_plane: ControlPlane, policy_crd: str
) -> None:
    policy = {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
              "metadata": {"name": "e2e-defaults"}, "spec": {"enforcement": "Warn"}}
    out = control_plane.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(policy)).stdout
    assert json.loads(out)["spec"] == {"enforcement": "Warn", "allowCrossNamespaceUpstreams": False}


VALID_SPEC: Obj = {
    "namespaceSelector": {
        "matchLabels": {"team": "web"},
        "matchExpressions": [
            {"key": "kubectl-canary.io/api-group", "operator": "In", "values": ["example"]},
            {"key": "sandbox", "operator": "DoesNotExist"},
        ],
    },
    "apiGroup": "example", "enforcement": "Audit", "maxWeightStep": 100, "requireHeaderPhase": False,
    "prefixes": ["/{namespace}", "/shared"], "allowCrossNamespaceUpstreams": True, "exemptNamespaces": ["sandbox"],
}

# (what, spec fields replacing VALID_SPEC's, a word the server's refusal contains)
INVALID = [
    ("unknown enforcement", {"enforcement": "Block"}, "enforcement"),
    ("lowercase enforcement", {"enforcement": "enforce"}, "enforcement"),
    ("step 0", {"maxWeightStep": 0}, "maxWeightStep"),
    ("step over 100", {"maxWeightStep": 101}, "maxWeightStep"),
    ("step not an integer", {"maxWeightStep": "10"}, "maxWeightStep"),
    ("header phase not a bool", {"requireHeaderPhase": "yes"}, "requireHeaderPhase"),
    ("prefix without slash", {"prefixes": ["echo"]}, "prefixes"),
    ("duplicate prefix", {"prefixes": ["/a", "/a"]}, "prefixes"),
    ("namespace not a DNS label", {"exemptNamespaces": ["Team_A"]}, "exemptNamespaces"),
    ("apiGroup not a label value", {"apiGroup": "a b"}, "apiGroup"),
    ("unknown operator", {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Like"}]}}, "operator"),
    ("In without values", {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}, "values"),
    ("Exists with values",
     {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}, "values"),
    ("expression without key", {"namespaceSelector": {"matchExpressions": [{"operator": "Exists"}]}}, "key"),
    ("misspelt field", {"maxWeightSteps": 10}, "maxWeightSteps"),
]


def _policy(name: str, spec: Obj) -> str:
    return json.dumps({"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
                       "metadata": {"name": name}, "spec": spec})


def test_crd_schema_accepts_every_field(control_plane: ControlPlane, policy_crd: str) -> None:
    control_plane.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                          input=_policy("e2e-valid", VALID_SPEC))


@pytest.mark.parametrize(("what", "change", "word"), INVALID, ids=[case[0] for case in INVALID])
def test_crd_schema_refuses_invalid_policies(
    control_plane: ControlPlane, policy_crd: str, what: str, change: Obj, word: str
) -> None:
    proc = control_plane.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                                 input=_policy("e2e-invalid", {**VALID_SPEC, **change}), check=False)
    assert proc.returncode != 0, f"{what}: accepted"
    assert word in proc.stderr, proc.stderr


# ---- helm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", HELM_VARIANTS)
def test_helm_lint_strict(helm: Callable[..., subprocess.CompletedProcess[str]], variant: str) -> None:
    proc = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *HELM_VARIANTS[variant])
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("enforcement=block", "enforcement"),
        ("failurePolicy.deployments=Never", "deployments"),
        ("tls.mode=vault", "mode"),
        ("timeoutSeconds=60", "timeoutSeconds"),
        ("replicaCount=0", "replicaCount"),
        ("replicas=3", "replicas"),  # a misspelt key is an error, not silently ignored
    ],
)
def test_helm_values_schema_refuses_bad_values(
    helm: Callable[..., subprocess.CompletedProcess[str]], value: str, word: str
) -> None:
    proc = helm("template", "canary-webhook", str(CHART), "--set", value, check=False)
    assert proc.returncode != 0 and word in proc.stderr, proc.stderr


def _without(args: list[str], *flags: str) -> list[str]:
    """args with each `--flag VALUE` pair of `flags` removed."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            out.append(arg)
    return out


@pytest.mark.parametrize(("helm_variant", "kustomize_dir"), [("self-managed", DEPLOY), ("cert-manager", OVERLAY)])
def test_helm_chart_installs_the_same_as_kustomize(
    helm: Callable[..., subprocess.CompletedProcess[str]], kubectl_path: str, helm_variant: str, kustomize_dir: Path
) -> None:
    charted = helm_template(helm, HELM_VARIANTS[helm_variant])
    kustomized = kustomize(kustomize_dir, kubectl_path)

    def keys(objs: list[Obj]) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objs}

    # Helm does not create its release namespace (`--create-namespace` does).
    assert keys(charted) == keys(kustomized) - {("Namespace", NAMESPACE)}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert find(charted, kind, "kubectl-canary")["webhooks"] == find(kustomized, kind, "kubectl-canary")["webhooks"]
        assert find(charted, kind, "kubectl-canary")["metadata"].get("annotations") == find(
            kustomized, kind, "kubectl-canary")["metadata"].get("annotations")
    for kind in ("ClusterRole", "Role"):
        for obj in of_kind(kustomized, kind):
            assert find(charted, kind, obj["metadata"]["name"])["rules"] == obj["rules"]
    for kind in ("Service", "PodDisruptionBudget", "Certificate", "Issuer", "CustomResourceDefinition"):
        for obj in of_kind(kustomized, kind):
            assert find(charted, kind, obj["metadata"]["name"])["spec"] == obj["spec"], (kind, obj["metadata"]["name"])
    helm_pod = find(charted, "Deployment", "canary-webhook")["spec"]["template"]
    kust_pod = find(kustomized, "Deployment", "canary-webhook")["spec"]["template"]
    helm_container, kust_container = helm_pod["spec"]["containers"][0], kust_pod["spec"]["containers"][0]
    # The chart always passes --enforcement and what its webhook configurations say (failure policies and
    # timeoutSeconds, the webhook's own defaults when unchanged); the plain manifests leave the defaults.
    helm_args = helm_container.pop("args")
    assert helm_args[helm_args.index("--timeout-seconds") + 1] == "5"
    assert [helm_args[i + 1] for i, arg in enumerate(helm_args) if arg == "--failure-policy"] == [
        "routetables=Fail", "deployments=Ignore", "upstreams=Ignore"]
    assert _without(helm_args, "--enforcement", "--failure-policy", "--timeout-seconds") == kust_container.pop("args")
    # Lists merged by name (volumes, mounts) may come out in another order from a kustomize patch.
    for spec, key in ((helm_container, "volumeMounts"), (kust_container, "volumeMounts"),
                      (helm_pod["spec"], "volumes"), (kust_pod["spec"], "volumes")):
        spec[key] = sorted(spec[key], key=lambda item: item["name"])
    assert helm_container == kust_container
    assert helm_pod == kust_pod


# ---- RBAC on the real API server ----------------------------------------------------------------


def wait_until(check: Callable[[], bool], what: Callable[[], str], timeout: float = 20.0) -> None:
    """RBAC changes reach the authorizer through its watch cache: give them a moment."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what()}")
        time.sleep(0.2)


def can_i(control_plane: ControlPlane, access: Access) -> bool:
    """`kubectl auth can-i`, asked as the webhook's ServiceAccount (a SelfSubjectAccessReview)."""
    what = f"{access.resource}.{access.group}" if access.group else access.resource
    if access.name:
        what += f"/{access.name}"
    where = ["-n", access.namespace] if access.namespace else ["--all-namespaces"]
    proc = control_plane.kubectl("auth", "can-i", access.verb, what, *where, user=SERVICE_ACCOUNT_USER, check=False)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i {access.verb} {what}: {proc.stderr}"
    return answer == "yes"


@pytest.fixture(scope="module")
def service_account_user(control_plane: ControlPlane, install_namespace: str, policy_crd: str) -> str:
    """A client certificate for system:serviceaccount:canary-system:canary-webhook in the ServiceAccount's
    groups: RBAC matches ServiceAccount subjects by exactly that user name, so the manifests' own
    bindings apply to it, as they do to the webhook's token in a cluster."""
    control_plane.kubeconfig_for_user(SERVICE_ACCOUNT_USER, SA_GROUPS)
    return SERVICE_ACCOUNT_USER


@pytest.fixture(scope="module", params=["base", "cert-manager"])
def rbac_install(
    request: pytest.FixtureRequest, control_plane: ControlPlane, service_account_user: str, kubectl_path: str
) -> Iterator[str]:
    """The RBAC objects of one kustomize install, really applied (and deleted afterwards)."""
    objs = kustomize(DEPLOY if request.param == "base" else OVERLAY, kubectl_path)
    rbac = yaml.safe_dump_all([o for o in objs if o["kind"] in RBAC_KINDS], sort_keys=False)
    control_plane.kubectl("apply", "-f", "-", input=rbac)
    expected = {c: c.self_managed if request.param == "base" else c.cert_manager for c in CASES}
    # Wait for the authorizer to see this install's grants (and no longer the previous install's):
    # a read every install has, and the TLS rules that differ between the installs.
    probes = [CASES[0]] + [c for c in CASES if c.self_managed != c.cert_manager]
    wait_until(lambda: all(can_i(control_plane, c) is expected[c] for c in probes),
               lambda: f"the RBAC of {request.param} to apply; still wrong: "
               + ", ".join(c.id for c in probes if can_i(control_plane, c) is not expected[c]))
    yield request.param
    control_plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=rbac)


def test_service_account_may_do_exactly_what_the_table_says(control_plane: ControlPlane, rbac_install: str) -> None:
    wrong = []
    for access in CASES:
        expected = access.self_managed if rbac_install == "base" else access.cert_manager
        if can_i(control_plane, access) is not expected:
            wrong.append(f"{access.id}: {'denied' if expected else 'allowed'} by the API server")
    assert not wrong, f"{rbac_install} install:\n" + "\n".join(wrong)


CACHED = ["upstreams.gloo.solo.io", "deployments.apps", "namespaces", "routetables.gateway.solo.io",
          "canarypolicies.policy.kubectl-canary.io"]


@pytest.mark.parametrize("resource", CACHED)
def test_service_account_can_fill_its_watch_caches(
    control_plane: ControlPlane, rbac_install: str, resource: str
) -> None:
    # An informer lists, then watches from the list's resourceVersion: both as the ServiceAccount.
    control_plane.kubectl("get", resource, "--all-namespaces", "-o", "name", user=SERVICE_ACCOUNT_USER)
    # The watch runs until the request timeout ends it, which kubectl reports as success (exit 0);
    # a refused watch exits 1 with "forbidden".
    proc = control_plane.kubectl("get", resource, "--all-namespaces", "--watch-only", "--request-timeout=1s",
                                 user=SERVICE_ACCOUNT_USER, check=False)
    assert proc.returncode == 0 and "forbidden" not in proc.stderr.lower(), proc.stderr


def test_service_account_cannot_read_secrets_elsewhere_or_write_routetables(
    control_plane: ControlPlane, rbac_install: str, namespace: str
) -> None:
    control_plane.kubectl("create", "secret", "generic", "db-password", "-n", namespace, "--from-literal=p=x")
    for args in (["get", "secret", "db-password", "-n", namespace], ["get", "secrets", "--all-namespaces"]):
        proc = control_plane.kubectl(*args, user=SERVICE_ACCOUNT_USER, check=False)
        assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), proc.stderr
    route_table = {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
                   "metadata": {"name": "intruder", "namespace": namespace}, "spec": {"routes": []}}
    proc = control_plane.kubectl("create", "-f", "-", input=json.dumps(route_table), user=SERVICE_ACCOUNT_USER,
                                 check=False)
    assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), proc.stderr


# ---- uninstall ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "crd_deleted"), [([], True), (["-l", "app.kubernetes.io/component!=crd"], False)])
def test_documented_uninstall_keeps_the_crd_only_when_asked(
    control_plane: ControlPlane, install_namespace: str, policy_crd: str, selector: list[str], crd_deleted: bool
) -> None:
    # deploy/README.md: `kubectl delete -k deploy/` removes the CRD (and every policy) too; with the
    # label selector it stays. Dry-run: the shared control plane keeps both.
    proc = control_plane.kubectl("delete", "-k", str(DEPLOY), *selector, "--dry-run=server", "--ignore-not-found",
                                 "-o", "name")
    deleted = proc.stdout.split()
    assert f"namespace/{NAMESPACE}" in deleted
    assert (f"customresourcedefinition.apiextensions.k8s.io/{policy_crd}" in deleted) is crd_deleted, deleted
