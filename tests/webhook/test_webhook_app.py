"""The Flask app through its test client: every endpoint, every malformed input, failing safe."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from whapi import slow_cluster
from whsupport import admission_review, applied, cluster, dest, namespace, routetable, single, weighted, weights_of

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import Obj
from webhook.admission.decision import Context, Settings, Verdict
from webhook.admission.rules import RULES, Rules
from webhook.app import MAX_BODY, create_app
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client
from webhook.cluster.state import StateLookup
from webhook.health import TEXT, Answer, health_of


def make_client(objects=(), settings: Settings | None = None, **kw) -> FlaskClient:
    return create_app(StateLookup(objects or cluster(namespace("team", "team-group"))), settings, **kw).test_client()


@pytest.fixture
def client() -> FlaskClient:
    return make_client()


def post(client: FlaskClient, path: str, body) -> tuple[int, Obj]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post(path, data=data, content_type="application/json")
    return answer.status_code, answer.get_json()


def test_mutate_answers_with_a_patch_that_applies(client):
    rt = routetable([weighted([None, 10])], namespace="team")
    status, body = post(client, "/mutate", admission_review(rt, uid="abc"))
    assert status == 200 and body["response"]["uid"] == "abc"
    result = applied(rt, body)
    assert weights_of(result) == [90, 10] and result["metadata"]["labels"]["apiGroup"] == "team-group"


def test_validate_answers_allowed_and_denied(client):
    assert post(client, "/validate", admission_review(routetable([single(dest("v1"))]), uid="a"))[1]["response"] \
        == {"uid": "a", "allowed": True}
    body = post(client, "/validate", admission_review(routetable([single(dest("v7"))]), uid="b"))[1]
    assert body["response"]["allowed"] is False and body["response"]["status"]["code"] == 403


def test_dry_run_requests_get_the_same_answer(client):
    rt = routetable([weighted([1, 3]), single(dest("v7"), prefix="/x")])
    for path in ("/mutate", "/validate"):
        wet = post(client, path, admission_review(rt, uid="same"))[1]
        dry = post(client, path, admission_review(rt, uid="same", dry_run=True))[1]
        assert wet == dry


def test_enforcement_warn_admits_with_warnings():
    client = make_client(settings=Settings(enforcement="warn"))
    body = post(client, "/validate", admission_review(routetable([single(dest("v7"))])))[1]
    assert body["response"]["allowed"] is True
    assert body["response"]["warnings"] == [
        "route /echo -> echo/echo subset version=v7: no Deployment in namespace echo serves it; found v1, v2"]


REVIEW = admission_review(routetable([single(dest("v1"))]))


def without(path: str) -> Obj:
    doc = json.loads(json.dumps(REVIEW))
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    del target[last]
    return doc


def changed(path: str, value) -> Obj:
    doc = json.loads(json.dumps(REVIEW))
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    return doc


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"<xml/>", "the body is not JSON"),
        (b'"text"', "the body must be a JSON object (an AdmissionReview)"),
        (changed("apiVersion", "admission.k8s.io/v1beta1"),
         "expected apiVersion admission.k8s.io/v1 kind AdmissionReview, got apiVersion 'admission.k8s.io/v1beta1'"),
        (changed("kind", "ConversionReview"), "expected apiVersion admission.k8s.io/v1 kind AdmissionReview"),
        (without("request"), "request must be an object"),
        (without("request.uid"), "request.uid must be a non-empty string"),
        (changed("request.uid", ""), "request.uid must be a non-empty string"),
        (changed("request.uid", 7), "request.uid must be a non-empty string"),
        (without("request.kind"), "request.kind must be an object"),
        (without("request.kind.kind"), "request.kind.kind must be a non-empty string"),
        (without("request.operation"), "request.operation must be a non-empty string"),
        (changed("request.operation", "PATCH"), "request.operation must be one of CREATE, UPDATE, DELETE, CONNECT"),
        (without("request.object"), "request.object must be an object for a CREATE"),
        (changed("request.object", []), "request.object must be an object for a CREATE"),
        (changed("request.operation", "UPDATE"), "request.oldObject must be an object for a UPDATE"),
        (changed("request.operation", "DELETE"), "request.oldObject must be an object for a DELETE"),
    ],
)
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_malformed_input_is_a_400_with_a_message(client, path, body, message):
    status, answer = post(client, path, body)
    assert status == 400
    assert answer["code"] == 400 and answer["error"].startswith(message)


def test_a_body_over_7_mib_is_a_413(client):
    status, answer = post(client, "/validate", b"{" + b" " * MAX_BODY + b"}")
    assert status == 413 and "more than the 7340032 bytes allowed" in answer["error"]


def test_a_body_of_exactly_7_mib_is_read():
    body = json.dumps(REVIEW).encode()
    padded = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(padded) == MAX_BODY
    assert post(make_client(), "/validate", padded)[0] == 200


def probe(client, path: str) -> Answer:
    """What the probe listener answers for the app behind `client` (`webhook.serving.probes`)."""
    return health_of(client.application).answer(path)


def metrics_of(client) -> str:
    return probe(client, "/metrics").body.decode()


def test_health_ready_and_metrics(client):
    assert probe(client, "/healthz") == Answer(200, TEXT, b"ok\n")
    assert probe(client, "/readyz") == Answer(200, TEXT, b"ok\n")
    post(client, "/mutate", admission_review(routetable([weighted([1, 3])], namespace="team")))
    post(client, "/validate", admission_review(routetable([single(dest("v7"))])))
    post(client, "/validate", b"nope")
    metrics = probe(client, "/metrics")
    assert metrics.status == 200 and metrics.content_type.startswith("text/plain")
    text = metrics.body.decode()
    for line in [
        'canary_webhook_requests_total{decision="patched",endpoint="mutate",operation="CREATE"} 1.0',
        'canary_webhook_requests_total{decision="denied",endpoint="validate",operation="CREATE"} 1.0',
        'canary_webhook_requests_total{decision="bad-request",endpoint="validate",operation="unknown"} 1.0',
        'canary_webhook_mutations_total{reason="weights-normalised"} 1.0',
        'canary_webhook_mutations_total{reason="api-group"} 1.0',
        'canary_webhook_denials_total{reason="no-deployment"} 1.0',
        'canary_webhook_request_duration_seconds_count{endpoint="validate"} 2.0',
    ]:
        assert line in text


def test_each_app_has_its_own_metrics():
    first, second = make_client(), make_client()
    post(first, "/validate", REVIEW)
    assert "canary_webhook_requests_total{" not in metrics_of(second)


class NotSynced(StateLookup):
    """A lookup whose caches have not synced (in the cluster: informers still listing)."""

    def ready(self) -> bool:
        return False


def test_readyz_is_503_until_the_caches_are_synced():
    client = create_app(NotSynced(cluster())).test_client()
    assert probe(client, "/readyz") == Answer(503, TEXT, b"caches not synced yet\n")
    assert probe(client, "/healthz").status == 200


def test_readyz_is_503_while_the_server_says_why_not():
    client = create_app(StateLookup(cluster()), serving=lambda: "shutting down").test_client()
    assert probe(client, "/readyz") == Answer(503, TEXT, b"shutting down\n")
    assert probe(client, "/healthz").status == 200


@pytest.fixture
def unreachable_cluster(tmp_path: Path) -> InformerLookup:
    """A real InformerLookup, never started, pointed at a port nobody listens on: every read fails."""
    from whserver import free_port

    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return InformerLookup(api_client(str(path)))


def test_a_routetable_write_the_cluster_cannot_answer_for_is_refused_by_us_saying_why(unreachable_cluster):
    client = create_app(unreachable_cluster).test_client()
    assert probe(client, "/readyz").status == 503
    status, answer = post(client, "/validate", REVIEW)
    assert status == 200 and answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    assert message.startswith("canary-webhook cannot decide now, so the request is refused (failurePolicy Fail); "
                              "retry in a moment: could not read Upstream echo/echo from the API server")


def test_a_deployment_delete_the_cluster_cannot_answer_for_is_admitted_with_a_warning(unreachable_cluster):
    client = create_app(unreachable_cluster).test_client()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echo-v1", "namespace": "echo"},
                  "spec": {"template": {"metadata": {"labels": {"app": "echo", "version": "v1"}}}}}
    review = admission_review(None, "DELETE", old=deployment, kind=("apps", "v1", "Deployment"))
    status, answer = post(client, "/validate", review)
    assert status == 200 and answer["response"]["allowed"] is True
    assert answer["response"]["warnings"][0].startswith("admitted unchecked (failurePolicy Ignore): canary-webhook")


class Unreachable(StateLookup):
    """Stands in for an API server that cannot be reached when the Namespace is read (the real
    InformerLookup raises the same ClusterError, see above; its Namespace client takes seconds to import)."""

    def namespace(self, name: str, fresh: bool = False):
        raise ClusterError("could not read Namespace echo from the API server: connection refused")


def test_mutation_that_cannot_reach_the_api_server_is_refused_by_us_too():
    client = create_app(Unreachable(cluster())).test_client()
    status, answer = post(client, "/mutate", admission_review(routetable([weighted([50, 50])])))
    assert status == 200 and answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"].endswith(
        "retry in a moment: could not read Namespace echo from the API server: connection refused")
    # with the label already there, mutation needs no lookup and still answers
    labelled = routetable([weighted([1, 3])], labels={"apiGroup": "g"})
    assert post(client, "/mutate", admission_review(labelled))[0] == 200


def boom(*args) -> list:
    raise RuntimeError("a bug")


def test_a_crashing_check_denies_and_points_to_the_logs(caplog):
    client = make_client(rules=Rules(checks={"boom": boom}))
    status, body = post(client, "/validate", admission_review(routetable([single(dest("v1"))]), uid="crash-1"))
    assert status == 200
    assert body["response"]["allowed"] is False
    assert body["response"]["status"]["message"] == (
        "canary-webhook failed while validating (internal error); see its logs for uid crash-1")
    assert "RuntimeError: a bug" in caplog.text  # the trace goes to the log, not to the caller


@pytest.mark.parametrize(
    ("settings", "operation", "allowed", "why"),
    [
        (Settings(), "CREATE", False, None),
        (Settings(), "UPDATE-spec", False, None),
        (Settings(enforcement="warn"), "CREATE", True, "--enforcement warn"),
        (Settings(enforcement="warn"), "UPDATE-spec", True, "--enforcement warn"),
        (Settings(), "UPDATE-label", True, "routing unchanged"),
    ],
)
def test_a_crashing_check_respects_warn_and_unchanged_routing(settings, operation, allowed, why):
    client = make_client(settings=settings, rules=Rules(checks={"boom": boom}))
    old = routetable([single(dest("v1"))], labels={"apiGroup": "g"})
    new = {**old, "metadata": {**old["metadata"], "labels": {"apiGroup": "g", "team": "a"}}}
    if operation == "UPDATE-spec":
        new = routetable([single(dest("v2"))], labels={"apiGroup": "g"})
    doc = (admission_review(old, uid="crash-2") if operation == "CREATE"
           else admission_review(new, "UPDATE", old=old, uid="crash-2"))
    status, body = post(client, "/validate", doc)
    assert status == 200 and body["response"]["allowed"] is allowed
    if allowed:
        assert body["response"]["warnings"] == [
            f"admitted unvalidated ({why}): canary-webhook internal error, see its logs for uid crash-2"]
    else:
        assert body["response"]["status"]["message"].startswith("canary-webhook failed while validating")


def test_a_crashing_mutator_denies_rather_than_admitting_unmutated():
    # Admitted unchanged, the object would be stored without its apiGroup label: failing open.
    client = make_client(rules=Rules(mutators={"boom": boom}))
    status, body = post(client, "/mutate", admission_review(routetable([weighted([1, 3])]), uid="crash-3"))
    assert status == 200
    assert body["response"]["allowed"] is False and "patch" not in body["response"]
    assert body["response"]["status"]["message"] == (
        "canary-webhook failed while mutating (internal error); see its logs for uid crash-3")


def test_a_crashing_mutator_admits_unmutated_with_a_warning_in_warn_mode():
    client = make_client(settings=Settings(enforcement="warn"), rules=Rules(mutators={"boom": boom}))
    body = post(client, "/mutate", admission_review(routetable([weighted([1, 3])]), uid="crash-4"))[1]
    assert body["response"]["allowed"] is True and "patch" not in body["response"]
    assert body["response"]["warnings"] == [
        "admitted unmutated (--enforcement warn): canary-webhook internal error, see its logs for uid crash-4"]


def test_extra_checks_plug_in_next_to_the_registrys():
    from webhook.admission.decision import Problem

    def no_friday(ctx: Context):
        yield Problem("policy", "no releases on Friday")

    client = make_client(rules=RULES.with_checks(noFriday=no_friday))
    body = post(client, "/validate", admission_review(routetable([single(dest("v7"))])))[1]
    assert body["response"]["status"]["message"].startswith("2 problems: route /echo -> echo/echo subset version=v7")
    assert body["response"]["status"]["message"].endswith("; no releases on Friday")


def test_endpoints_given_to_the_app_are_answered_like_the_admission_ones():
    # The shipped app has /mutate and /validate only; a benchmark's baseline adds an allow-all /allow.
    assert make_client().post("/allow", data=json.dumps(REVIEW)).status_code == 404
    client = make_client(endpoints={"allow": lambda ctx: Verdict(allowed=True, decision="allowed")})
    status, body = post(client, "/allow", REVIEW)
    assert status == 200 and body["response"] == {"uid": REVIEW["request"]["uid"], "allowed": True}
    assert client.post("/allow", data="{").status_code == 400  # parsed like the others


def test_unknown_paths_and_methods_are_json_errors(client):
    assert client.get("/nope").get_json()["code"] == 404
    assert client.get("/validate").get_json()["code"] == 405
    assert client.put("/mutate").get_json()["code"] == 405


def _review_with(operation: str, kind: tuple[str, str, str] = ("gateway.solo.io", "v1", "RouteTable"),
                 **fields) -> Obj:
    """REVIEW's RouteTable with `fields` of the request replaced (object, oldObject, ...)."""
    doc = admission_review(routetable([single(dest("v1"))]), operation=operation, kind=kind,
                           old=routetable([single(dest("v1"))]) if operation != "CREATE" else None)
    if operation == "DELETE":
        doc["request"]["object"] = None
    doc["request"].update(fields)
    return doc


RT_META_X = {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable", "metadata": "x",
             "spec": {"routes": [single(dest("v1"))]}}
DEPLOY = ("apps", "v1", "Deployment")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 200000, id="deeply-nested-json"),
        pytest.param(b'{"a":' * 200000, id="deeply-nested-object"),
        pytest.param(_review_with("CREATE", object=RT_META_X), id="create-metadata-string"),
        pytest.param(_review_with("UPDATE", object=RT_META_X), id="update-object-metadata-string"),
        pytest.param(_review_with("UPDATE", oldObject=RT_META_X), id="update-old-metadata-string"),
        pytest.param(_review_with("UPDATE", object=RT_META_X, oldObject=RT_META_X), id="update-both-metadata-string"),
        pytest.param(_review_with("DELETE", kind=DEPLOY, oldObject={"kind": "Deployment", "metadata": "x"}),
                     id="deployment-delete-metadata-string"),
        pytest.param(_review_with("DELETE", kind=DEPLOY, oldObject={"kind": "Deployment", "metadata": ["x"],
                                                                     "spec": ["x"]}),
                     id="deployment-delete-metadata-list"),
        pytest.param(_review_with("CREATE", object={**RT_META_X, "metadata": {"labels": ["x"]}}),
                     id="labels-list"),
        pytest.param(_review_with("CREATE", object={**RT_META_X, "metadata": {"name": "r"}, "spec": ["x"]}),
                     id="spec-list"),
    ],
)
@pytest.mark.parametrize("path", ["/mutate", "/validate"])
def test_odd_input_is_never_a_500(client, path, body):
    status, answer = post(client, path, body)
    assert status in (200, 400), answer
    assert ("response" in answer) if status == 200 else answer["code"] == 400


def test_deeply_nested_json_is_a_400_saying_so(client):
    status, answer = post(client, "/mutate", b"[" * 200000)
    assert status == 400 and "nested too deeply" in answer["error"]


def unhashable_reason(ctx: Context) -> list:
    # a buggy check whose problem cannot be counted (a list as its reason): bookkeeping fails, not the answer
    from webhook.admission.decision import Problem
    return [Problem(["not", "a", "string"], "a problem", deny=False)]  # type: ignore[arg-type]


def test_a_failure_while_logging_or_counting_keeps_the_answer(caplog):
    client = make_client(rules=Rules(checks={"unhashable": unhashable_reason}))
    status, body = post(client, "/validate", admission_review(routetable([single(dest("v1"))]), uid="log-1"))
    assert status == 200
    assert body["response"] == {"uid": "log-1", "allowed": True, "warnings": ["a problem"]}
    assert "recording the decision failed" in caplog.text


def test_a_routetable_write_is_admitted_when_the_configuration_says_ignore(unreachable_cluster):
    settings = Settings(routetables_failure="Ignore")
    client = create_app(unreachable_cluster, settings).test_client()
    status, answer = post(client, "/validate", REVIEW)
    assert status == 200 and answer["response"]["allowed"] is True
    assert answer["response"]["warnings"][0].startswith("admitted unchecked (failurePolicy Ignore): canary-webhook "
                                                        "could not read Upstream echo/echo from the API server")


@pytest.mark.parametrize(("timeout", "budget"), [(5, 2.5), (10, 2.5), (4, 1.5), (2, 0.2)])
def test_the_fresh_budget_follows_the_configured_timeout(timeout, budget):
    assert Settings(timeout_seconds=timeout).fresh_budget == budget


@pytest.mark.parametrize("timeout", [3, 10])
def test_a_slow_api_server_is_answered_within_the_configured_timeout(tmp_path, timeout):
    # Each read takes 0.3 s; validating REVIEW reads five times (1.5 s). With `timeoutSeconds: 10` the
    # budget (2.5 s) holds them all and the write is judged. With 3 it is 0.5 s: the third fresh read is
    # not asked, and the webhook refuses in its own words long before kube-apiserver would give up on it.
    with slow_cluster(tmp_path, delay=0.3) as (api, lookup):
        client = create_app(lookup, Settings(timeout_seconds=timeout)).test_client()
        began = time.monotonic()
        status, answer = post(client, "/validate", REVIEW)
        took = time.monotonic() - began
        asked = [r["path"] for r in api.requests]
    assert status == 200 and took < timeout, took  # kube-apiserver's limit for this webhook
    response = answer["response"]
    if timeout == 10:
        assert response["allowed"] is True, response
        assert "/apis/apps/v1/namespaces/echo/deployments" in asked
    else:
        assert response["allowed"] is False
        assert re.fullmatch(
            r"canary-webhook cannot decide now, so the request is refused \(failurePolicy Fail\); retry in a "
            r"moment: could not confirm .* within 0.5 s: this request has taken \d+\.\d s already "
            r"\(is the API server slow\?\)", response["status"]["message"]), response
        assert len(asked) == 2 and "/apis/apps/v1/namespaces/echo/deployments" not in asked, asked
