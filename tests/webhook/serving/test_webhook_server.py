"""The real `canary-webhook serve` process over HTTPS on loopback, trusting the CA it was given."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from whserver import Running, ca_from_log, serve, session
from whsupport import (
    admission_review,
    applied,
    cluster,
    dest,
    namespace,
    routetable,
    single,
    weighted,
    weights_of,
)

from webhook.tls import certs

DEPLOYMENT_KIND = ("apps", "v1", "Deployment")


def write_state(directory: Path, objects) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cluster.yaml").write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    return directory


def issue(directory: Path) -> Path:
    certs.issue(directory, ["localhost"], ["127.0.0.1"], days=2)
    return directory / certs.CA_FILE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    base = tmp_path_factory.mktemp("server")
    tls = base / "tls"
    ca = issue(tls)
    state = write_state(base / "state", cluster(namespace("team", "team-group"),
                                                 routetable([single(dest("v1"))], labels={"apiGroup": "g"})))
    with serve(["--cert-dir", str(tls), "--state", str(state), "--default-api-group", "fallback"],
               base / "server.log") as running:
        yield running, ca


@pytest.fixture
def client(server: tuple[Running, Path]) -> Iterator[requests.Session]:
    with session(server[1]) as found:
        yield found


def post(server: tuple[Running, Path], client: requests.Session, path: str, body) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"{server[0].url}{path}", data=data, headers={"Content-Type": "application/json"}, timeout=10)


def test_mutate_echoes_the_uid_and_patches_weights_and_the_label(server, client):
    rt = routetable([single(dest("v2"), headers=[("stage", "canary")]), weighted([1, 3])], namespace="team")
    review = admission_review(rt, uid="b1b2c3d4-0000-4000-8000-000000000042")
    answer = post(server, client, "/mutate", review)
    assert answer.status_code == 200
    body = answer.json()
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == "b1b2c3d4-0000-4000-8000-000000000042"
    assert body["response"]["allowed"] is True
    assert body["response"]["patchType"] == "JSONPatch"
    json.loads(base64.b64decode(body["response"]["patch"]))  # base64 of a JSON array
    result = applied(rt, body)
    assert weights_of(result, 1) == [25, 75]
    assert result["metadata"]["labels"] == {"apiGroup": "team-group"}
    assert body["response"]["warnings"] == [
        "label apiGroup=team-group added (from Namespace team)",
        "route /echo: weights 1,3 normalised to 25,75",
    ]


def test_mutate_of_an_object_needing_nothing_has_no_patch(server, client):
    rt = routetable([weighted([30, 70])], labels={"apiGroup": "g"})
    body = post(server, client, "/mutate", admission_review(rt)).json()
    assert body["response"] == {"uid": admission_review(rt)["request"]["uid"], "allowed": True}


def test_validate_denies_with_403_and_every_problem(server, client):
    rt = routetable([single(dest("v3")), single(dest("v1", name="nope"), prefix="/x")])
    body = post(server, client, "/validate", admission_review(rt, uid="u-1")).json()
    assert body["response"]["uid"] == "u-1"
    assert body["response"]["allowed"] is False
    assert body["response"]["status"]["code"] == 403
    assert body["response"]["status"]["message"] == (
        "2 problems: route /echo -> echo/echo subset version=v3: no Deployment in namespace echo serves it; "
        "found v1, v2; route /x -> echo/nope subset version=v1: Upstream echo/nope does not exist"
    )
    assert "patch" not in body["response"]


def test_validate_allows_what_is_served(server, client):
    rt = routetable([single(dest("v2"), headers=[("stage", "canary")]), weighted([50, 50])])
    body = post(server, client, "/validate", admission_review(rt, uid="u-2")).json()
    assert body["response"] == {"uid": "u-2", "allowed": True}


def test_deleting_the_last_deployment_in_use_is_denied(server, client):
    old = cluster()[2]  # Deployment echo-v1, which RouteTable echo/echo-routes routes to
    review = admission_review(None, "DELETE", old=old, kind=DEPLOYMENT_KIND, uid="u-3")
    body = post(server, client, "/validate", review).json()
    assert body["response"]["allowed"] is False
    assert "RouteTable echo/echo-routes route /echo" in body["response"]["status"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "the body must be a JSON object"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}},
         "expected apiVersion admission.k8s.io/v1 kind AdmissionReview"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request must be an object"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"kind": {"kind": "RouteTable"}, "operation": "CREATE", "object": {}}},
         "request.uid must be a non-empty string"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "u", "kind": {"group": "gateway.solo.io", "kind": "RouteTable"}, "operation": "CREATE"}},
         "request.object must be an object for a CREATE"),
    ],
)
def test_malformed_bodies_get_400_with_a_message(server, client, body, message):
    for path in ("/mutate", "/validate"):
        answer = post(server, client, path, body)
        assert answer.status_code == 400
        assert message in answer.json()["error"]


def test_a_body_over_7_mib_gets_413(server, client):
    rt = routetable([single(dest("v1"))])
    rt["metadata"]["annotations"] = {"big": "x" * (7 * 1024 * 1024)}
    answer = post(server, client, "/validate", admission_review(rt))
    assert answer.status_code == 413
    assert "more than the 7340032 bytes allowed" in answer.json()["error"]
    # the connection and the server are fine afterwards
    assert post(server, client, "/validate", admission_review(routetable([single(dest("v1"))]))).status_code == 200


def test_health_readiness_and_metrics_are_plain_http_on_the_probe_port_only(server, client):
    url, probes = server[0].url, server[0].probe_url
    with session("") as plain:
        assert plain.get(f"{probes}/healthz", timeout=5).text == "ok\n"
        ready = plain.get(f"{probes}/readyz", timeout=5)
        assert (ready.status_code, ready.headers["Content-Type"]) == (200, "text/plain; charset=utf-8")
        post(server, client, "/validate", admission_review(routetable([single(dest("v3"))])))
        metrics = plain.get(f"{probes}/metrics", timeout=5)
        assert plain.get(f"{probes}/mutate", timeout=5).status_code == 404
    assert metrics.headers["Content-Type"].startswith("text/plain; version=")
    assert 'canary_webhook_requests_total{decision="denied",endpoint="validate",operation="CREATE"}' in metrics.text
    assert 'canary_webhook_denials_total{reason="no-deployment"}' in metrics.text
    assert "canary_webhook_request_duration_seconds_bucket" in metrics.text
    # the admission port answers admission calls only
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(f"{url}{path}", timeout=5).status_code == 404


def test_wrong_methods_and_paths_get_json_errors_not_pages(server, client):
    url = server[0].url
    assert client.get(f"{url}/mutate", timeout=5).json() == {
        "error": "The method is not allowed for the requested URL.", "code": 405}
    assert client.get(f"{url}/nope", timeout=5).status_code == 404
    assert client.post(f"{url}/allow", data=b"{}", timeout=5).status_code == 404  # benchmark-only, off


def test_each_request_is_one_json_log_line(server, client):
    post(server, client, "/mutate", admission_review(routetable([weighted([1, 3])]), uid="log-me"))
    lines = [json.loads(line) for line in server[0].log_text().splitlines() if '"uid":"log-me"' in line]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["endpoint"] == "mutate" and entry["decision"] == "patched"
    assert entry["namespace"] == "echo" and entry["name"] == "echo-routes" and entry["operation"] == "CREATE"
    assert entry["kind"] == "RouteTable.gateway.solo.io" and entry["durationMs"] >= 0


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(server):
    def client(maximum: ssl.TLSVersion) -> ssl.SSLContext:
        # A client willing to speak TLS 1.0 to 1.2 (security level 0 re-enables the old versions).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(server[1])
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = maximum
        return context

    with pytest.raises(ssl.SSLError, match=r"(?i)protocol.version"):
        ssl_connect(server[0].port, client(ssl.TLSVersion.TLSv1_1))
    assert ssl_connect(server[0].port, client(ssl.TLSVersion.TLSv1_2))


def ssl_connect(port: int, context: ssl.SSLContext) -> bytes:
    """The DER certificate the server presents on a new connection."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der


def test_a_rotated_certificate_is_served_without_a_restart(tmp_path: Path):
    tls = tmp_path / "tls"
    issue(tls)
    state = write_state(tmp_path / "state", cluster())
    with serve(["--cert-dir", str(tls), "--state", str(state)], tmp_path / "server.log") as running:
        old = ssl.PEM_cert_to_DER_cert((tls / certs.CERT_FILE).read_text())
        # a new CA and serving pair, written as a rotating Secret volume would (each file atomically)
        ca, ca_key = certs.new_ca("rotated-ca", days=2)
        cert, key = certs.new_serving_cert(ca, ca_key, ["localhost"], ["127.0.0.1"], days=2)
        certs.write_pair(tls, certs.cert_pem(cert), certs.key_pem(key))
        second_ca = tmp_path / "second-ca.crt"
        second_ca.write_bytes(certs.cert_pem(ca))
        context = ssl.create_default_context(cafile=str(second_ca))
        served = ssl_connect(running.port, context)
        assert served == ssl.PEM_cert_to_DER_cert(certs.cert_pem(cert).decode()) != old
        with session(second_ca) as client:
            body = client.post(f"{running.url}/validate", json=admission_review(routetable([single(dest("v1"))])),
                               timeout=5).json()
        assert body["response"]["allowed"] is True
        assert running.proc.poll() is None
        assert "certificate in" in running.log_text() and "changed; serving the new one" in running.log_text()


def test_self_signed_serves_with_a_generated_ca_and_cleans_it_up(tmp_path: Path):
    state = write_state(tmp_path / "state", cluster())
    with serve(["--self-signed", "--state", str(state)], tmp_path / "server.log") as running:
        ca = ca_from_log(running.log_text())
        assert ca is not None and ca.exists()
        with session(ca) as client:
            body = client.post(f"{running.url}/mutate", json=admission_review(routetable([weighted([1, 1])])),
                               timeout=5).json()
        assert body["response"]["warnings"] == ["route /echo: weights 1,1 normalised to 50,50"]
        assert "caBundle " in running.log_text()
    assert not ca.parent.exists()
