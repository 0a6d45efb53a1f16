"""The webhook's permissions, as shipped in deploy/base, are enough for its own code and no more.

deploy/base/rbac.yaml (the read-only ClusterRole and the caBundle ClusterRole) and
deploy/base/rbac-tls.yaml (the Role on its Secret) are applied as shipped, with three substitutions
so the test owns what it creates in the shared control plane: the subject is a real user created
with a client certificate (instead of the ServiceAccount canary-system/canary-webhook), the
namespace is a fresh one (instead of canary-system), and names get a suffix (the webhook
configurations' `kubectl-canary` in resourceNames included). Every rule is otherwise
untouched. Then, authenticated as that user:

- the authorizer's own list of its rules (`kubectl auth can-i --list`) is exactly the five watched
  kinds (get, list, watch), its own two webhook configurations (get, patch) and, in its namespace,
  its own Secret (get, update) plus Secret create: nothing else;
- the webhook's informer caches (webhook.cluster.cache.InformerLookup) sync, and then follow objects created
  afterwards (list and watch both work);
- the TLS bootstrap (webhook.tls.bootstrap) creates and renews its Secret and patches its caBundle;
  without the caBundle ClusterRole (or with nothing bound) it fails with a message naming the
  missing permission;
- with the same API client the webhook uses, it cannot read Secrets elsewhere (or other Secrets in
  its namespace), write RouteTables, Deployments or policies, nor patch another webhook configuration.

tests/e2e/test_deploy.py asks the same server about the installs as the ServiceAccount itself
(`kubectl auth can-i` per request); this module runs the webhook's code under those permissions.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubectl_canary.core import objects
from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import CANARY_POLICY, ROUTETABLE
from kubectl_canary.core.routes import RouteState
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client
from webhook.tls import bootstrap, certs, renewal

from .controlplane import ControlPlane
from .test_bootstrap import (
    BASE,
    SECRET,
    SERVICE,
    SHIPPED_CONFIGURATION,
    expiring_pair,
    load_base,
    published_bundles,
    secret_data,
    store,
    webhook_configurations,
)

SHIPPED_NAMESPACE = "canary-system"
SHIPPED_SUBJECT = {"kind": "ServiceAccount", "name": "canary-webhook", "namespace": SHIPPED_NAMESPACE}
CRD = BASE / "crd-canarypolicy.yaml"
# Granted to every authenticated user by the default ClusterRoles (system:basic-user and friends).
EVERYONE = {"selfsubjectreviews.authentication.k8s.io", "selfsubjectaccessreviews.authorization.k8s.io",
            "selfsubjectrulesreviews.authorization.k8s.io"}

Obj = dict[str, Any]


@dataclass(frozen=True)
class Identity:
    """The webhook's identity in this test: a user bound to the shipped rules."""

    user: str
    kubeconfig: Path
    namespace: str  # stands for canary-system
    configuration: str  # stands for kubectl-canary
    suffix: str

    def api(self) -> client.ApiClient:
        return api_client(str(self.kubeconfig))


def shipped_rbac(files: list[str], user: str, namespace: str, configuration: str, suffix: str) -> list[Obj]:
    """The RBAC objects of `files` in deploy/base, bound to `user` (see the module docstring)."""
    found = []
    for file in files:
        for obj in copy.deepcopy(load_base(file)):
            meta = obj["metadata"]
            meta["name"] = f"{meta['name']}-{suffix}"
            if not obj["kind"].startswith("Cluster"):
                assert meta["namespace"] == SHIPPED_NAMESPACE
                meta["namespace"] = namespace
            if "roleRef" in obj:
                obj["roleRef"]["name"] = f"{obj['roleRef']['name']}-{suffix}"
                assert obj["subjects"] == [SHIPPED_SUBJECT]
                obj["subjects"] = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]
            for rule in obj.get("rules", []):
                names = rule.get("resourceNames")
                if names and "admissionregistration.k8s.io" in rule["apiGroups"]:
                    assert names == [SHIPPED_CONFIGURATION]
                    rule["resourceNames"] = [configuration]
            found.append(obj)
    return found


def as_list(objs: list[Obj]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})


def can_i(control_plane: ControlPlane, user: str, *args: str) -> bool:
    return control_plane.kubectl("auth", "can-i", *args, user=user, check=False).stdout.strip() == "yes"


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def bind(control_plane: ControlPlane, files: list[str], user: str, namespace: str, configuration: str,
         suffix: str) -> str:
    """Apply the shipped RBAC of `files` for `user`, and wait until the authorizer uses it."""
    rbac = as_list(shipped_rbac(files, user, namespace, configuration, suffix))
    control_plane.kubectl("create", "-f", "-", input=rbac)
    if "rbac.yaml" in files:
        wait_until(lambda: can_i(control_plane, user, "patch", f"mutatingwebhookconfigurations/{configuration}"),
                   f"the ClusterRoles of {user}")
    if "rbac-tls.yaml" in files:
        wait_until(lambda: can_i(control_plane, user, "update", f"secrets/{SECRET}", "-n", namespace),
                   f"the Role of {user}")
    return rbac


@pytest.fixture(scope="module")
def identity(control_plane: ControlPlane) -> Iterator[Identity]:
    """The shipped RBAC bound to a new user; its namespace and webhook configurations; the policy CRD."""
    suffix = secrets.token_hex(3)
    namespace, configuration, user = f"e2e-rbac-{suffix}", f"e2e-rbac-{suffix}", f"e2e-canary-webhook-{suffix}"
    assert CRD.is_file(), f"{CRD} is missing: the shipped RBAC is shown against the shipped CRD"
    control_plane.install_crds([CRD])
    control_plane.kubectl("create", "namespace", namespace)
    kubeconfig = control_plane.kubeconfig_for_user(user)
    configurations = as_list(webhook_configurations(configuration, namespace))
    control_plane.kubectl("create", "-f", "-", input=configurations)
    rbac = bind(control_plane, ["rbac.yaml", "rbac-tls.yaml"], user, namespace, configuration, suffix)
    yield Identity(user, kubeconfig, namespace, configuration, suffix)
    for manifests in (rbac, configurations):
        control_plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=manifests, check=False)
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


# ---- exactly these rules ---------------------------------------------------------------------------

Rule = tuple[str, tuple[str, ...], frozenset[str]]
_ROW = re.compile(r"^(\S+)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$")


def listed_rules(control_plane: ControlPlane, user: str, namespace: str) -> set[Rule]:
    """`kubectl auth can-i --list -n namespace` as `user`: (resource, resourceNames, verbs) rows,
    without non-resource URLs and the self-reviews every user may make."""
    out = control_plane.kubectl("auth", "can-i", "--list", "-n", namespace, user=user).stdout
    rows = set()
    for line in out.splitlines()[1:]:
        match = _ROW.match(line)
        if match and match[1] not in EVERYONE:
            rows.add((match[1], tuple(match[3].split()), frozenset(match[4].split())))
    return rows


def test_its_rules_are_the_watched_kinds_its_webhook_configurations_and_its_secret(
    control_plane: ControlPlane, identity: Identity
) -> None:
    read = frozenset({"get", "list", "watch"})
    cluster_wide = {
        ("upstreams.gloo.solo.io", (), read),
        ("deployments.apps", (), read),
        ("namespaces", (), read),
        ("services", (), read),
        ("routetables.gateway.solo.io", (), read),
        ("canarypolicies.policy.kubectl-canary.io", (), read),
        ("mutatingwebhookconfigurations.admissionregistration.k8s.io", (identity.configuration,),
         frozenset({"get", "patch"})),
        ("validatingwebhookconfigurations.admissionregistration.k8s.io", (identity.configuration,),
         frozenset({"get", "patch"})),
    }
    own_secret = {("secrets", (SECRET,), frozenset({"get", "update"})), ("secrets", (), frozenset({"create"}))}
    assert listed_rules(control_plane, identity.user, "default") == cluster_wide
    assert listed_rules(control_plane, identity.user, identity.namespace) == cluster_wide | own_secret


# ---- enough for its caches and its TLS -----------------------------------------------------------


@pytest.fixture
def team(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A team namespace; a CanaryPolicy created here is deleted afterwards."""
    yield namespace
    control_plane.kubectl("delete", "canarypolicies", "-l", f"e2e-team={namespace}", "--ignore-not-found",
                          check=False)


def test_informer_caches_sync_and_follow_changes_as_the_webhook(
    control_plane: ControlPlane, identity: Identity, team: str
) -> None:
    lookup = InformerLookup(identity.api())
    lookup.start()
    try:
        assert lookup.wait_ready(60) and lookup.ready()
        assert not lookup.policies_cache.absent, "the CanaryPolicy CRD is installed: its cache really lists"
        # Objects created after the initial list reach the caches through the watches.
        state = RouteState(primary="v1")
        policy = {"apiVersion": CANARY_POLICY.api_version, "kind": CANARY_POLICY.kind,
                  "metadata": {"name": f"e2e-{team}", "labels": {"e2e-team": team}},
                  # Governs no namespace: other tests share this control plane.
                  "spec": {"namespaceSelector": {"matchLabels": {"e2e-never": team}}, "maxWeightStep": 10}}
        created = [objects.upstream("echo", team), objects.routetable("echo", team, state, "example"), policy,
                   objects.deployment("echo", team, "v1", objects.Workload(), "primary")]
        control_plane.kubectl("create", "-f", "-", input=as_list(created))
        wait_until(lambda: lookup.upstream(team, "echo") is not None, "the Upstream in the cache")
        wait_until(lambda: [d["metadata"]["name"] for d in lookup.deployments(team)] == ["echo-v1"],
                   "the Deployment in the cache")
        wait_until(lambda: any(rt["metadata"]["namespace"] == team for rt in lookup.routetables()),
                   f"the {ROUTETABLE.kind} in the cache")
        wait_until(lambda: any(p["metadata"]["name"] == f"e2e-{team}" for p in lookup.policies()),
                   "the CanaryPolicy in the cache")
        assert lookup.namespace(team) is not None
    finally:
        lookup.stop()


def test_tls_bootstrap_creates_and_renews_its_secret_with_the_shipped_permissions(
    control_plane: ControlPlane, identity: Identity, tmp_path: Path
) -> None:
    api = identity.api()
    args = (identity.namespace, SECRET, SERVICE, identity.configuration, tmp_path)
    bootstrap.ensure_serving_cert(api, *args)  # create the Secret, patch both configurations
    data = secret_data(control_plane, identity.namespace)
    assert published_bundles(control_plane, identity.configuration) == [data["ca.crt"]] * 4

    old_cert, old_key = expiring_pair(data, renewal.dns_names(SERVICE, identity.namespace))
    store(control_plane, identity.namespace, {**data, "tls.crt": old_cert, "tls.key": old_key})
    bootstrap.ensure_serving_cert(api, *args)  # get and update the Secret
    renewed = (tmp_path / certs.CERT_FILE).read_bytes()
    assert renewed != old_cert and renewed == secret_data(control_plane, identity.namespace)["tls.crt"]


@pytest.mark.parametrize(("files", "message"), [
    pytest.param(["rbac-tls.yaml"],
                 "forbidden to get MutatingWebhookConfiguration {configuration}: the webhook's ServiceAccount "
                 "needs 'get' on mutatingwebhookconfigurations named '{configuration}'", id="without-cabundle-role"),
    pytest.param([], "forbidden to get Secret {namespace}/canary-webhook-tls: the webhook's ServiceAccount "
                     "needs 'get' on secrets named 'canary-webhook-tls' in namespace {namespace}", id="nothing-bound"),
])
def test_a_missing_permission_is_named(
    control_plane: ControlPlane, identity: Identity, tmp_path: Path, files: list[str], message: str
) -> None:
    suffix = secrets.token_hex(3)
    user = f"e2e-canary-webhook-{suffix}"
    kubeconfig = control_plane.kubeconfig_for_user(user)
    rbac = bind(control_plane, files, user, identity.namespace, identity.configuration, suffix) if files else None
    try:
        with pytest.raises(ClusterError) as failure:
            bootstrap.ensure_serving_cert(api_client(str(kubeconfig)), identity.namespace, SECRET, SERVICE,
                                          identity.configuration, tmp_path)
        assert message.format(namespace=identity.namespace, configuration=identity.configuration) in str(failure.value)
        assert "\n" not in str(failure.value)
    finally:
        if rbac:
            control_plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=rbac, check=False)


# ---- and no more ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    admission: client.AdmissionregistrationV1Api


@dataclass(frozen=True)
class Elsewhere:
    """Objects the webhook must not touch: a team's Secret, RouteTable and Deployment, another
    Secret in its own namespace, another webhook configuration."""

    team: str
    own_namespace: str
    own_configuration: str
    other_configuration: str


@pytest.fixture(scope="module")
def elsewhere(control_plane: ControlPlane, identity: Identity) -> Iterator[Elsewhere]:
    team, other = f"e2e-rbac-team-{identity.suffix}", f"e2e-other-{identity.suffix}"
    state = RouteState(primary="v1")
    created = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-password", "namespace": team},
         "stringData": {"password": "hunter2"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other", "namespace": identity.namespace},
         "stringData": {"token": "x"}},
        objects.routetable("echo", team, state, "example"),
        objects.deployment("echo", team, "v1", objects.Workload(), "primary"),
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": other}, "webhooks": []},
    ]
    control_plane.kubectl("create", "-f", "-", input=as_list(created))
    yield Elsewhere(team, identity.namespace, identity.configuration, other)
    control_plane.kubectl("delete", "validatingwebhookconfiguration", other, "--ignore-not-found", check=False)
    control_plane.kubectl("delete", "namespace", team, "--wait=false", check=False)


def _any_patch() -> list[Obj]:
    # RBAC refuses before the body is looked at; a test-only patch would change nothing anyway.
    return [{"op": "test", "path": "/metadata/name", "value": "x"}]


def _rt(e: Elsewhere, c: Clients, verb: str) -> Any:
    group, version, plural = ROUTETABLE.group, ROUTETABLE.version, ROUTETABLE.plural
    if verb == "create":
        body = objects.routetable("intruder", e.team, RouteState(primary="v1"), "example")
        return c.custom.create_namespaced_custom_object(group, version, e.team, plural, body)
    if verb == "patch":
        return c.custom.patch_namespaced_custom_object(group, version, e.team, plural, "echo-routes", _any_patch())
    return c.custom.delete_namespaced_custom_object(group, version, e.team, plural, "echo-routes")


FORBIDDEN: list[tuple[str, Callable[[Elsewhere, Clients], Any]]] = [
    ("read a Secret of another namespace", lambda e, c: c.core.read_namespaced_secret("db-password", e.team)),
    ("list Secrets of all namespaces", lambda e, c: c.core.list_secret_for_all_namespaces()),
    ("list Secrets of its own namespace", lambda e, c: c.core.list_namespaced_secret(e.own_namespace)),
    ("read another Secret in its own namespace", lambda e, c: c.core.read_namespaced_secret("other", e.own_namespace)),
    ("create a Secret in another namespace", lambda e, c: c.core.create_namespaced_secret(
        e.team, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "planted"}})),
    ("create a RouteTable", lambda e, c: _rt(e, c, "create")),
    ("patch a RouteTable", lambda e, c: _rt(e, c, "patch")),
    ("delete a RouteTable", lambda e, c: _rt(e, c, "delete")),
    ("delete a Deployment", lambda e, c: c.apps.delete_namespaced_deployment("echo-v1", e.team)),
    ("scale a Deployment", lambda e, c: c.apps.patch_namespaced_deployment_scale(
        "echo-v1", e.team, {"spec": {"replicas": 0}})),
    ("create a CanaryPolicy", lambda e, c: c.custom.create_cluster_custom_object(
        CANARY_POLICY.group, CANARY_POLICY.version, CANARY_POLICY.plural,
        {"apiVersion": CANARY_POLICY.api_version, "kind": CANARY_POLICY.kind, "metadata": {"name": "planted"}})),
    ("patch another webhook configuration", lambda e, c: c.admission.patch_validating_webhook_configuration(
        e.other_configuration, _any_patch())),
    ("delete its own webhook configuration", lambda e, c: c.admission.delete_validating_webhook_configuration(
        e.own_configuration)),
    ("list webhook configurations", lambda e, c: c.admission.list_mutating_webhook_configuration()),
]


@pytest.mark.parametrize("call", [f[1] for f in FORBIDDEN], ids=[f[0] for f in FORBIDDEN])
def test_the_webhook_identity_is_refused(
    identity: Identity, elsewhere: Elsewhere, call: Callable[[Elsewhere, Clients], Any]
) -> None:
    api = identity.api()
    clients = Clients(client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api),
                      client.AdmissionregistrationV1Api(api))
    with pytest.raises(ApiException) as refused:
        call(elsewhere, clients)
    assert refused.value.status == 403, refused.value.body
    assert identity.user in (refused.value.body or "")

