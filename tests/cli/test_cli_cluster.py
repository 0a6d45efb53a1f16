"""The CLI on a real ClusterStore talking HTTP to a stand-in kube-apiserver (tests/store/fake_apiserver):
an unreachable cluster, an RBAC refusal and an admission denial each reach the user as one line naming
the context, the verb and the object, with the server's text verbatim; server warnings are printed."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import accepted, data_path, service_objects
from store.fake_apiserver import FakeApiServer, kubeconfig

from kubectl_canary.core.routes import RouteState

RT_PATH = "/apis/gateway.solo.io/v1/namespaces/echo/routetables/echo-routes"
DEPLOYMENTS = "/apis/apps/v1/namespaces/echo/deployments"
DENIAL = ('admission webhook "routetables.validate.kubectl-canary.io" denied the request: canary weight may rise by '
          "at most 25 per step (CanaryPolicy default)")


@pytest.fixture
def api(tmp_path):
    fake = FakeApiServer()
    (tmp_path / "config").write_text(kubeconfig(fake.url, context="kind-dev", current="kind-dev"))
    yield fake
    fake.close()


def _weighted(fake: FakeApiServer) -> None:
    """A healthy service at weight 50: its objects, Accepted by Gloo, and one ready endpoint per version."""
    objs = service_objects(RouteState("v1", "v2", 50, (("stage", "canary"),)),
                           {"v1": "primary", "v2": "canary"})
    fake.answers[("GET", RT_PATH)] = (200, accepted(objs[2]), [])
    fake.answers[("GET", RT_PATH.rpartition("/")[0])] = (200, {"items": [accepted(objs[2])]}, [])
    fake.answers[("GET", "/apis/gloo.solo.io/v1/namespaces/echo/upstreams")] = (200, {"items": [accepted(objs[1])]}, [])
    fake.answers[("GET", "/apis/autoscaling/v2/namespaces/echo/horizontalpodautoscalers")] = (200, {"items": []}, [])
    for deployment in objs[3:]:
        deployment["status"] = {"readyReplicas": 1}
    fake.answers[("GET", DEPLOYMENTS)] = (200, {"items": objs[3:]}, [])
    fake.answers[("GET", "/api/v1/namespaces/echo/services/echo")] = (200, objs[0], [])
    fake.answers[("GET", "/apis/gloo.solo.io/v1/namespaces/echo/upstreams/echo")] = (200, accepted(objs[1]), [])
    *pods, eps, vs = data_path({"v1": 1, "v2": 1})
    fake.answers[("GET", "/api/v1/namespaces/echo/pods")] = (200, {"items": pods}, [])
    fake.answers[("GET", "/apis/discovery.k8s.io/v1/namespaces/echo/endpointslices")] = (200, {"items": [eps]}, [])
    fake.answers[("GET", "/apis/gateway.solo.io/v1/virtualservices")] = (200, {"items": [vs]}, [])


def test_an_admission_denial_reaches_the_user_verbatim(run, api, tmp_path):
    _weighted(api)
    api.answers[("PATCH", RT_PATH)] = (403, {"kind": "Status", "message": DENIAL},
                                       [("Warning", '299 - "weight step above policy"')])
    result = run("shift", "echo", "--weight", "100", "--kubeconfig", str(tmp_path / "config"))
    assert result.exit_code == 1
    assert result.stderr == ("Warning: weight step above policy\n"
                             f"error: cannot apply RouteTable echo/echo-routes: {DENIAL}\n")
    patch = next(r for r in api.requests if r["method"] == "PATCH")
    assert patch["query"] == {"fieldManager": "kubectl-canary"}
    assert patch["body"]["metadata"]["annotations"]["kubectl-canary.io/weight"] == "100"


def test_a_server_dry_run_sends_dry_run_all(run, api, tmp_path):
    _weighted(api)
    api.answers[("PATCH", RT_PATH)] = (200, {"kind": "RouteTable", "metadata": {"name": "echo-routes"}}, [])
    result = run("shift", "echo", "--weight", "60", "--dry-run=server", "--kubeconfig", str(tmp_path / "config"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "routetable.gateway.solo.io/echo-routes configured (server dry run)\n"
    assert next(r for r in api.requests if r["method"] == "PATCH")["query"]["dryRun"] == "All"


def test_an_rbac_refusal_names_the_context_the_verb_and_the_object(run, api, tmp_path):
    message = ('routetables.gateway.solo.io is forbidden: User "dev" cannot list resource "routetables" '
               'in API group "gateway.solo.io" in the namespace "echo"')
    api.answers[("GET", RT_PATH.rpartition("/")[0])] = (403, {"kind": "Status", "message": message}, [])
    result = run("status", "echo", "--kubeconfig", str(tmp_path / "config"))
    assert result.exit_code == 1
    assert result.stderr == (f"error: forbidden: context kind-dev may not list routetables in namespace echo "
                             f"({message}); ask for RBAC permission to list routetables.gateway.solo.io in "
                             "namespace echo\n")


def test_an_unreachable_cluster_names_the_context_and_the_verb(run, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "config").write_text(kubeconfig(f"http://127.0.0.1:{port}", context="kind-dev", current="kind-dev"))
    result = run("finish", "echo", "-n", "echo", "--kubeconfig", str(tmp_path / "config"))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the cluster of context kind-dev to list routetables "
                                    "in namespace echo: ")
    assert result.stderr.count("\n") == 1


POLICIES = "/apis/policy.kubectl-canary.io/v1alpha1/canarypolicies"


def test_status_names_the_policies_of_the_cluster_or_says_it_cannot(run, api, tmp_path):
    _weighted(api)
    config = ["--kubeconfig", str(tmp_path / "config")]
    # No CanaryPolicy CRD (the stand-in answers 404): no policies.
    assert "Policy:      none" in run("status", "echo", *config).stdout
    api.answers[("GET", POLICIES)] = (200, {"items": [{"metadata": {"name": "limits"}, "spec": {"maxWeightStep": 25}}]},
                                      [])
    shown = run("status", "echo", *config)
    assert "Policy:      limits (Enforce): maxWeightStep=25, allowCrossNamespaceUpstreams=false" in shown.stdout
    # A user who may read the service but not list the cluster's policies still gets the status.
    message = 'canarypolicies.policy.kubectl-canary.io is forbidden: User "dev" cannot list resource "canarypolicies"'
    api.answers[("GET", POLICIES)] = (403, {"kind": "Status", "message": message}, [])
    result = run("status", "echo", "-o", "json", *config)
    assert result.exit_code == 0 and json.loads(result.stdout)["policies"] is None
    assert result.stderr.startswith("Warning: cannot tell which CanaryPolicies govern namespace echo: forbidden: "
                                    "context kind-dev may not list canarypolicies")
    assert "Policy:      unknown" in run("status", "echo", *config).stdout


def test_a_field_another_manager_owns_stops_shift_until_forced(run, api, tmp_path):
    _weighted(api)
    conflict = {"kind": "Status", "reason": "Conflict", "code": 409, "message": "Apply failed with 1 conflict",
                "details": {"causes": [{"reason": "FieldManagerConflict", "field": ".spec.routes",
                                        "message": 'conflict with "argocd-controller" using gateway.solo.io/v1'}]}}
    api.answers[("PATCH", RT_PATH)] = (409, conflict, [])
    config = ["--kubeconfig", str(tmp_path / "config")]
    result = run("shift", "echo", "--weight", "60", *config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cannot apply RouteTable echo/echo-routes: 1 field(s) already have another field manager:",
        '  .spec.routes: owned by "argocd-controller" (gateway.solo.io/v1)',
        "re-run with --force-conflicts to take them over (the other manager may change them back on its next sync), "
        "or make this change through that manager",
    ]
    api.answers[("PATCH", RT_PATH)] = (200, {"kind": "RouteTable", "metadata": {"name": "echo-routes"}}, [])
    assert run("shift", "echo", "--weight", "60", "--force-conflicts", *config).exit_code == 0
    assert api.requests[-1]["query"] == {"fieldManager": "kubectl-canary", "force": "true"}
