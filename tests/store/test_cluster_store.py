"""ClusterStore against a tiny local HTTP server standing in for kube-apiserver: the requests it builds
(paths, server-side apply, dry run, delete options), the kubeconfig rules, the Warning headers, and the
translation of every kind of refusal. (The real kube-apiserver is exercised by the e2e tests.)"""

from __future__ import annotations

import socket
import time

import pytest

from kubectl_canary.core.errors import CanaryError, ClusterError, Forbidden
from kubectl_canary.core.kinds import CANARY_POLICY, DEPLOYMENT, NAMESPACE, ROUTETABLE, SERVICE, ObjectRef
from kubectl_canary.store.answers import conflict_lines, parse_warnings
from kubectl_canary.store.cluster import ClusterStore
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.paths import resource_path

from .fake_apiserver import FakeApiServer, kubeconfig

RT = {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
      "metadata": {"name": "echo-routes", "namespace": "echo"}, "spec": {"routes": []}}
RT_PATH = "/apis/gateway.solo.io/v1/namespaces/echo/routetables/echo-routes"


@pytest.fixture
def api(tmp_path, monkeypatch):
    fake = FakeApiServer()
    path = tmp_path / "config"
    path.write_text(kubeconfig(fake.url))
    monkeypatch.setenv("KUBECONFIG", str(path))
    yield fake
    fake.close()


@pytest.fixture
def store(api) -> ClusterStore:
    return ClusterStore()


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "path"),
    [
        (ROUTETABLE, "echo", "echo-routes", RT_PATH),
        (DEPLOYMENT, "echo", None, "/apis/apps/v1/namespaces/echo/deployments"),
        (SERVICE, "echo", "echo", "/api/v1/namespaces/echo/services/echo"),
        (NAMESPACE, "", "echo", "/api/v1/namespaces/echo"),
        (ROUTETABLE, None, None, "/apis/gateway.solo.io/v1/routetables"),
    ],
)
def test_resource_paths(kind, namespace, name, path):
    assert resource_path(kind, namespace, name) == path


@pytest.mark.parametrize(
    ("values", "warnings"),
    [
        (['299 - "spec.routes[0]: weight 0 sends no traffic"'], ["spec.routes[0]: weight 0 sends no traffic"]),
        (['299 - "a \\"quoted\\" word"', '299 - "second"'], ['a "quoted" word', "second"]),
        (['299 - "one", 299 - "two" "Sat, 01 Jan 2000 00:00:00 GMT"'], ["one", "two"]),
        (["garbage"], []),
    ],
)
def test_parse_warnings(values, warnings):
    assert parse_warnings(values) == warnings


def test_get_sends_the_token_and_returns_the_object(api, store):
    api.answers[("GET", RT_PATH)] = (200, RT, [])
    assert store.get(ROUTETABLE, "echo", "echo-routes") == RT
    assert api.requests[0]["headers"]["authorization"] == "Bearer secret-token"
    assert store.get(ROUTETABLE, "echo", "missing") is None
    assert (store.describe(), store.default_namespace) == ("context dev", "echo")


@pytest.mark.parametrize(("dry_run", "force", "query"), [
    (False, False, {"fieldManager": "kubectl-canary"}),
    (True, False, {"fieldManager": "kubectl-canary", "dryRun": "All"}),
    (False, True, {"fieldManager": "kubectl-canary", "force": "true"}),
])
def test_apply_is_a_server_side_apply_patch_forced_only_when_asked(api, dry_run, force, query):
    store = ClusterStore(force_conflicts=force)
    api.answers[("PATCH", RT_PATH)] = (200, {**RT, "status": {}}, [("Warning", '299 - "deprecated field"')])
    assert store.apply(RT, dry_run=dry_run)["status"] == {}
    request = api.requests[-1]
    assert (request["method"], request["query"], request["body"]) == ("PATCH", query, RT)
    assert request["headers"]["content-type"] == "application/apply-patch+yaml"
    assert store.warnings == ["deprecated field"]


# kube-apiserver reads a DELETE's options from its body alone when there is one, so a server dry run
# must carry dryRun in the DeleteOptions body (a query parameter beside the body really deletes).
@pytest.mark.parametrize(("dry_run", "dry_run_option"), [(False, None), (True, ["All"])])
def test_delete_propagates_in_the_background(api, store, dry_run, dry_run_option):
    path = "/apis/apps/v1/namespaces/echo/deployments/echo-v1"
    api.answers[("DELETE", path)] = (200, {"kind": "Status"}, [])
    assert store.delete(ObjectRef("Deployment", "echo", "echo-v1"), dry_run=dry_run) is True
    body = api.requests[-1]["body"]
    assert body["propagationPolicy"] == "Background" and body.get("dryRun") == dry_run_option
    assert store.delete(ObjectRef("Deployment", "echo", "echo-v9"), dry_run=False) is False


def test_list_sends_the_selector_and_restores_kind_on_items(api, store):
    api.answers[("GET", "/apis/gateway.solo.io/v1/routetables")] = (200, {"items": [{"metadata": {"name": "a"}}]}, [])
    found = store.list(ROUTETABLE, None, "app.kubernetes.io/managed-by=kubectl-canary")
    assert found == [{"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable", "metadata": {"name": "a"}}]
    assert api.requests[-1]["query"] == {"labelSelector": "app.kubernetes.io/managed-by=kubectl-canary"}


ADMISSION = ('admission webhook "routetables.validate.kubectl-canary.io" denied the request: route /echo -> '
             "echo/echo subset version=v3: no Deployment runs version v3")
RBAC = ('routetables.gateway.solo.io "echo-routes" is forbidden: User "dev" cannot patch resource "routetables" '
        'in API group "gateway.solo.io" in the namespace "echo"')


@pytest.mark.parametrize(
    ("status", "message", "error", "expected"),
    [
        (401, "Unauthorized", ClusterError, "unauthorized: the cluster of context dev rejected the credentials to "
                                            "apply RouteTable echo/echo-routes"),
        (403, RBAC, Forbidden, f"forbidden: context dev may not apply RouteTable echo/echo-routes ({RBAC}); "
                                  "ask for RBAC permission to patch routetables.gateway.solo.io in namespace echo"),
        (403, ADMISSION, CanaryError, f"cannot apply RouteTable echo/echo-routes: {ADMISSION}"),
        (400, ADMISSION, CanaryError, f"cannot apply RouteTable echo/echo-routes: {ADMISSION}"),
        (422, 'RouteTable.gateway.solo.io "echo-routes" is invalid: spec.routes: Invalid value', CanaryError,
         'cannot apply RouteTable echo/echo-routes: RouteTable.gateway.solo.io "echo-routes" is invalid'),
        (500, "Internal error occurred: failed calling webhook", ClusterError,
         "the cluster of context dev failed to apply RouteTable echo/echo-routes: 500 Internal error occurred"),
    ],
)
def test_refusals_are_translated_keeping_the_server_message(api, store, status, message, error, expected):
    api.answers[("PATCH", RT_PATH)] = (status, {"kind": "Status", "message": message}, [])
    with pytest.raises(error) as err:
        store.apply(RT, dry_run=False)
    assert str(err.value).startswith(expected)
    assert type(err.value) is error


def test_a_missing_resource_type_on_list_names_the_crd(api, store):
    with pytest.raises(ClusterError, match=r"does not serve routetables \(gateway.solo.io/v1\); are its CRDs"):
        store.list(ROUTETABLE, "echo")


def test_a_cluster_without_the_policy_crd_has_no_policies(api, store):
    # The CanaryPolicy CRD is optional: `status` lists policies on every cluster.
    assert store.list(CANARY_POLICY, None) == []
    assert api.requests[-1]["path"] == "/apis/policy.kubectl-canary.io/v1alpha1/canarypolicies"


def test_policies_that_may_not_be_listed_are_named_without_a_namespace(api, store):
    message = ('canarypolicies.policy.kubectl-canary.io is forbidden: User "dev" cannot list resource '
               '"canarypolicies" in API group "policy.kubectl-canary.io" at the cluster scope')
    api.answers[("GET", "/apis/policy.kubectl-canary.io/v1alpha1/canarypolicies")] = (403, {"message": message}, [])
    with pytest.raises(ClusterError, match=r"^forbidden: context dev may not list canarypolicies \("):
        store.list(CANARY_POLICY, None)


def test_an_unreachable_cluster_names_the_context_and_the_verb(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "config").write_text(kubeconfig(f"http://127.0.0.1:{port}", context="kind-dev", current="kind-dev"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    with pytest.raises(ClusterError) as err:
        ClusterStore().get(ROUTETABLE, "echo", "echo-routes")
    message = str(err.value)
    assert message.startswith("cannot reach the cluster of context kind-dev to get RouteTable echo/echo-routes: ")
    assert message.endswith("; check that the cluster is running or choose another --context/--kubeconfig")


# How KUBECONFIG's files merge, and which context, cluster and user the flags pick: compared with the built
# kubectl on the same files in tests/store/test_kubeconfig.py.


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p, m: (m.setenv("KUBECONFIG", str(p / "none")), m.setenv("HOME", str(p)),
                       m.delenv("KUBERNETES_SERVICE_HOST", raising=False)), "no kubeconfig found"),
        (lambda p, m: m.setenv("KUBECONFIG", str(p / "config")), "context 'nope' not found in kubeconfig"),
    ],
)
def test_kubeconfig_errors(tmp_path, monkeypatch, setup, message):
    (tmp_path / "config").write_text(kubeconfig("http://127.0.0.1:1"))
    setup(tmp_path, monkeypatch)
    with pytest.raises(ClusterError, match=message):
        ClusterStore(Connection(context="nope" if "nope" in message else None))


def test_a_missing_kubeconfig_flag_file_is_named(tmp_path):
    with pytest.raises(ClusterError, match=r"kubeconfig .*/nothing not found; pass an existing file"):
        ClusterStore(Connection(kubeconfig=str(tmp_path / "nothing")))


def test_impersonation_and_the_request_timeout_travel_with_every_request(api):
    store = ClusterStore(Connection(as_user="jane", as_groups=("devs", "ops"), as_uid="42", request_timeout=5))
    api.answers[("GET", RT_PATH)] = (200, RT, [])
    store.get(ROUTETABLE, "echo", "echo-routes")
    request = api.requests[-1]
    # Each group is a header of its own: kube-apiserver does not split a comma-joined Impersonate-Group.
    assert request["header_values"]["impersonate-group"] == ["devs", "ops"]
    assert (request["headers"]["impersonate-user"], request["headers"]["impersonate-uid"]) == ("jane", "42")
    assert request["query"] == {"timeout": "5s"}  # as kubectl sends it, so the server bounds its work too
    # A refusal names whose rights it is about.
    api.answers[("GET", RT_PATH)] = (403, {"message": 'routetables.gateway.solo.io "echo-routes" is forbidden: '
                                                     'User "jane" cannot get resource "routetables"'}, [])
    with pytest.raises(ClusterError, match=r"^forbidden: context dev as jane may not get RouteTable echo/echo-routes"):
        store.get(ROUTETABLE, "echo", "echo-routes")


def test_a_server_that_does_not_answer_is_a_timeout_naming_the_flag(tmp_path, monkeypatch):
    # A loopback socket that accepts connections (the kernel's backlog) and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        (tmp_path / "config").write_text(kubeconfig(url, context="kind-dev", current="kind-dev"))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
        with pytest.raises(ClusterError) as err:
            ClusterStore(Connection(request_timeout=0.3)).get(ROUTETABLE, "echo", "echo-routes")
    assert str(err.value) == (
        "the cluster of context kind-dev did not answer within 0.3s to get RouteTable echo/echo-routes; "
        "check that the API server is up, or allow longer with --request-timeout"
    )


def _conflict(*causes: tuple[str, str]) -> dict:
    return {"kind": "Status", "status": "Failure", "reason": "Conflict", "code": 409,
            "message": f"Apply failed with {len(causes)} conflict(s)",
            "details": {"causes": [{"reason": "FieldManagerConflict", "message": m, "field": f} for m, f in causes]}}


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (_conflict(('conflict with "argocd-controller" using gateway.solo.io/v1', ".spec.routes")),
         ['.spec.routes: owned by "argocd-controller" (gateway.solo.io/v1)']),
        (_conflict(('conflict with "flux" using apps/v1', ".spec.replicas"),
                   ('conflict with "kubectl-edit"', '.metadata.annotations.kubectl-canary.io/weight')),
         ['.spec.replicas: owned by "flux" (apps/v1)', '.metadata.annotations.kubectl-canary.io/weight: owned by '
                                                       '"kubectl-edit"']),
        ({"kind": "Status", "reason": "Conflict", "message": "the object has been modified"}, []),
        ({"details": {"causes": [{"reason": "FieldValueInvalid", "field": "spec"}]}}, []),
        ("not a status", []),
    ],
)
def test_conflict_lines(body, lines):
    assert conflict_lines(body) == lines


def test_an_apply_conflict_names_the_manager_each_field_and_the_fix(api, store):
    api.answers[("PATCH", RT_PATH)] = (409, _conflict(
        ('conflict with "argocd-controller" using gateway.solo.io/v1', ".spec.routes"),
        ('conflict with "argocd-controller" using gateway.solo.io/v1', ".metadata.labels.apiGroup")), [])
    with pytest.raises(CanaryError) as err:
        store.apply(RT, dry_run=False)
    assert str(err.value).splitlines() == [
        "cannot apply RouteTable echo/echo-routes: 2 field(s) already have another field manager:",
        '  .spec.routes: owned by "argocd-controller" (gateway.solo.io/v1)',
        '  .metadata.labels.apiGroup: owned by "argocd-controller" (gateway.solo.io/v1)',
        "re-run with --force-conflicts to take them over (the other manager may change them back on its next sync), "
        "or make this change through that manager",
    ]


def test_a_server_and_token_alone_reach_the_cluster(api, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    api.answers[("GET", RT_PATH)] = (200, RT, [])
    store = ClusterStore(Connection(server=api.url, token="sa-token"))
    assert store.get(ROUTETABLE, "echo", "echo-routes") == RT
    assert api.requests[-1]["headers"]["authorization"] == "Bearer sa-token"


def test_waiting_for_a_change_watches_both_kinds_from_the_last_read(api, store):
    tables = "/apis/gateway.solo.io/v1/namespaces/echo/routetables"
    api.answers[("GET", tables)] = (200, {"metadata": {"resourceVersion": "41"}, "items": [RT]}, [])
    deployments = "/apis/apps/v1/namespaces/echo/deployments"
    api.answers[("GET", deployments)] = (200, {"metadata": {"resourceVersion": "42"}, "items": []}, [])
    store.list(ROUTETABLE, "echo")  # as a snapshot reads them: the RouteTable may have any name
    store.list(DEPLOYMENT, "echo")
    # Both collections now answer as a watch does: one event a line.
    event = {"type": "MODIFIED", "object": {**RT, "metadata": {**RT["metadata"], "resourceVersion": "43"}}}
    api.answers[("GET", "/apis/gateway.solo.io/v1/namespaces/echo/routetables")] = (200, event, [])
    api.answers[("GET", deployments)] = (200, {"type": "ADDED", "object": {"metadata": {"name": "echo-v3"}}}, [])
    assert store.wait_for_change("echo", "echo", timeout=5) is True

    def watches() -> dict[str, dict[str, str]]:
        return {r["path"]: r["query"] for r in list(api.requests) if r["query"].get("watch") == "true"}

    # The first event wakes the caller; the other watch, a thread of its own, may still be on its way.
    deadline = time.monotonic() + 10
    while len(watches()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watches()["/apis/gateway.solo.io/v1/namespaces/echo/routetables"] == {
        "watch": "true", "timeoutSeconds": "5", "resourceVersion": "41"}
    assert watches()[deployments]["resourceVersion"] == "42"


def test_a_watch_that_is_refused_says_so_so_the_caller_polls(api, store):
    message = 'routetables.gateway.solo.io is forbidden: User "dev" cannot watch resource "routetables"'
    api.answers[("GET", "/apis/gateway.solo.io/v1/namespaces/echo/routetables")] = (403, {"message": message}, [])
    assert store.wait_for_change("echo", "echo", timeout=5) is False


PROXY_PATH = "/api/v1/namespaces/gloo-system/pods/gateway-proxy-1:8082/proxy/clusters"


def test_proxy_get_goes_through_the_pods_proxy_subresource(api, store):
    api.answers[("GET", PROXY_PATH)] = (200, {"cluster_statuses": []}, [])
    text = store.proxy_get(ObjectRef("Pod", "gloo-system", "gateway-proxy-1"), 8082, "/clusters?format=json")
    assert text == '{"cluster_statuses": []}'
    assert api.requests[-1]["path"] == PROXY_PATH and api.requests[-1]["query"]["format"] == "json"


def test_proxy_get_refused_names_the_subresource_to_grant(api, store):
    api.answers[("GET", PROXY_PATH)] = (403, {"message": 'pods "gateway-proxy-1" is forbidden: User "dev" cannot '
                                                        'get resource "pods/proxy"'}, [])
    with pytest.raises(Forbidden, match="ask for RBAC permission to get pods/proxy in namespace gloo-system"):
        store.proxy_get(ObjectRef("Pod", "gloo-system", "gateway-proxy-1"), 8082, "/clusters?format=json")
