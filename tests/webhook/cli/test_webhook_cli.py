"""`canary-webhook review` (exit 0 allowed, 1 denied, 2 bad input), `certs`, and `serve` usage errors."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from whsupport import admission_review, cluster, deployment, dest, routetable, single, weighted, weights_of

from webhook.cli.main import cli
from webhook.tls import certs


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "echo.yaml").write_text(yaml.safe_dump_all(cluster()), encoding="utf-8")
    return directory


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def write(tmp_path: Path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return str(path)


def test_review_allows_and_prints_the_mutated_object(tmp_path, state):
    rt = routetable([single(dest("v2"), headers=[("stage", "canary")]), weighted([1, 3])])
    result = run("review", "-f", write(tmp_path, "rt.yaml", rt), "--state", str(state),
                 "--default-api-group", "example")
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert weights_of(printed, 1) == [25, 75] and printed["metadata"]["labels"] == {"apiGroup": "example"}
    assert result.stderr.splitlines() == [
        "warning: label apiGroup=example added (the webhook's default)",
        "warning: route /echo: weights 1,3 normalised to 25,75",
    ]


def test_review_denies_with_exit_1_and_every_reason(tmp_path, state):
    rt = routetable([single(dest("v3")), single(dest("v1", name="nope"), prefix="/x")])
    result = run("review", "-f", write(tmp_path, "rt.yaml", rt), "--state", str(state), "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["metadata"]["name"] == "echo-routes"
    assert result.stderr.splitlines() == [
        "denied: route /echo -> echo/echo subset version=v3: no Deployment in namespace echo serves it; found v1, v2",
        "denied: route /x -> echo/nope subset version=v1: Upstream echo/nope does not exist",
    ]


def test_review_without_state_has_no_cluster_to_find_upstreams_in(tmp_path):
    result = run("review", "-f", write(tmp_path, "rt.yaml", routetable([single(dest("v1"))])))
    assert result.exit_code == 1
    assert "Upstream echo/echo does not exist" in result.stderr


def test_review_warn_enforcement_exits_0(tmp_path, state):
    result = run("review", "-f", write(tmp_path, "rt.yaml", routetable([single(dest("v3"))])), "--state", str(state),
                 "--enforcement", "warn")
    assert result.exit_code == 0
    assert "warning: route /echo -> echo/echo subset version=v3" in result.stderr


def test_review_of_an_object_the_state_holds_is_an_update(tmp_path, state):
    # The state's RouteTable routes to v3 (a problem from before); re-applying it unchanged is not denied.
    broken = routetable([single(dest("v3"))])
    (state / "rt.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run("review", "-f", write(tmp_path, "rt.yaml", broken), "--state", str(state))
    assert result.exit_code == 0
    assert "warning: not enforced (spec unchanged): route /echo" in result.stderr
    changed = routetable([single(dest("v3"), prefix="/new")])
    assert run("review", "-f", write(tmp_path, "rt2.yaml", changed), "--state", str(state)).exit_code == 1


def test_review_takes_a_whole_admission_review(tmp_path, state):
    doc = admission_review(None, "DELETE", old=deployment("v1"), kind=("apps", "v1", "Deployment"))
    (state / "rt.yaml").write_text(yaml.safe_dump(routetable([single(dest("v1"))])), encoding="utf-8")
    result = run("review", "-f", write(tmp_path, "review.json", json.dumps(doc)), "--state", str(state))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "denied: Deployment echo/echo-v1 is the last one serving RouteTable echo/echo-routes" in result.stderr


def test_review_reads_stdin(state):
    result = run("review", "-f", "-", "--state", str(state), stdin=yaml.safe_dump(routetable([weighted([50, 50])])))
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a: [", "cannot read it"),
        ("", "expected one document"),
        ("a: 1\n---\nb: 2\n", "expected one document"),
        ("just text", "neither an AdmissionReview nor a Kubernetes object"),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u"}}),
         "request.kind must be an object"),
    ],
)
def test_review_bad_input_exits_2(tmp_path, state, content, message):
    result = run("review", "-f", write(tmp_path, "bad.yaml", content), "--state", str(state))
    assert result.exit_code == 2
    assert message in result.stderr


def _odd_rt(route: dict | None = None, **top) -> dict:
    return {**routetable([route if route is not None else single(dest("v1"))]), **top}


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_odd_rt(spec=["x"]), "spec must be an object, not list"),
        (_odd_rt(metadata="x"), "metadata must be an object, not str"),
        (_odd_rt(metadata={"name": "r", "labels": ["x"]}), "metadata.labels must be an object, not list"),
        (_odd_rt({"matchers": ["abc"], "routeAction": {"single": dest("v1")}}),
         "spec.routes[0].matchers[0] must be an object, not str"),
        (_odd_rt({"matchers": {"prefix": "/x"}, "routeAction": {"single": dest("v1")}}),
         "spec.routes[0].matchers must be a list, not dict"),
        (_odd_rt({"routeAction": {"single": {"upstream": {"name": "echo"}, "subset": "x"}}}),
         "spec.routes[0].routeAction.single.subset must be an object, not str"),
        (_odd_rt({"routeAction": {"multi": {"destinations": [{"destination": "x", "weight": 100}]}}}),
         "spec.routes[0].routeAction.multi.destinations[0].destination must be an object, not str"),
        (_odd_rt({"routeAction": "x"}), "spec.routes[0].routeAction must be an object, not str"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": "x"}, "metadata must be an object"),
        (admission_review(_odd_rt(spec=["x"])), "request.object.spec must be an object, not list"),
        (admission_review(routetable([]), "UPDATE", old=_odd_rt(metadata="x")),
         "request.oldObject.metadata must be an object"),
    ],
)
def test_review_of_wrongly_typed_fields_exits_2_in_one_line(tmp_path, state, obj, message):
    result = run("review", "-f", write(tmp_path, "odd.yaml", obj), "--state", str(state))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == f"canary-webhook: {message}" + result.stderr.split(message, 1)[1]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_review_of_too_deeply_nested_input_exits_2(tmp_path, state):
    result = run("review", "-f", write(tmp_path, "deep.json", "[" * 100000), "--state", str(state))
    assert result.exit_code == 2 and "cannot read it" in result.stderr


def test_review_of_a_missing_file_or_bad_state_exits_2(tmp_path):
    assert run("review", "-f", str(tmp_path / "missing.yaml")).exit_code == 2
    bad_state = tmp_path / "bad"
    bad_state.mkdir()
    (bad_state / "x.yaml").write_text("kind: [", encoding="utf-8")
    result = run("review", "-f", write(tmp_path, "rt.yaml", routetable([])), "--state", str(bad_state))
    assert result.exit_code == 2 and "not valid YAML" in result.stderr


def test_certs_writes_the_pair_and_prints_the_ca_bundle(tmp_path):
    out = tmp_path / "tls"
    result = run("certs", "--out", str(out), "--dns", "canary-webhook.canary-system.svc", "--ip", "10.0.0.1",
                 "--days", "3")
    assert result.exit_code == 0
    ca = (out / "ca.crt").read_bytes()
    assert base64.b64decode(result.stdout.strip()) == ca
    served = certs.load_cert((out / "tls.crt").read_bytes())
    served.verify_directly_issued_by(certs.load_cert(ca))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "X"], "give at least one --dns NAME or --ip ADDR"),
        (["--out", "X", "--ip", "not-an-ip"], "not an IP address: not-an-ip"),
    ],
)
def test_certs_usage_errors_exit_2(tmp_path, args, message):
    result = run("certs", *[a.replace("X", str(tmp_path / "o")) for a in args])
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of --cert-dir DIR, --self-signed"),
        (["--self-signed", "--cert-dir", "TLS"], "give one of --cert-dir DIR, --self-signed"),
        (["--tls-secret", "s"], "--tls-secret, --service and --webhook-configuration go together"),
        (["--cert-dir", "TLS", "--state", "TLS", "--kubeconfig", "k"], "--state and --kubeconfig exclude each other"),
        (["--cert-dir", "EMPTY", "--state", "STATE"], "cannot serve with the certificate in"),
        (["--cert-dir", "TLS", "--state", "BAD"], "not valid YAML"),
        (["--self-signed", "--kubeconfig", "MISSING"], "no cluster configuration"),
        (["--self-signed", "--state", "STATE", "--default-api-group", "not a label"], "invalid --default-api-group"),
        (["--cert-dir", "TLS", "--state", "STATE", "--port", "9443", "--probe-port", "9443"],
         "--probe-port 9443 is --port too: give the probes a port of their own"),
    ],
)
def test_serve_refuses_before_listening(tmp_path, args, message):
    tls, empty, state, bad = tmp_path / "tls", tmp_path / "empty", tmp_path / "state", tmp_path / "bad"
    certs.issue(tls, ["localhost"])
    for directory in (empty, state, bad):
        directory.mkdir()
    (bad / "x.yaml").write_text("kind: [", encoding="utf-8")
    paths = {"EMPTY": empty, "TLS": tls, "STATE": state, "BAD": bad, "MISSING": tmp_path / "missing"}
    result = run("serve", *[str(paths.get(a, a)) for a in args])
    assert result.exit_code == (1 if "no cluster" in message else 2)
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--failure-policy", "routetables=Maybe"],
         "'routetables=Maybe': give KIND=POLICY with KIND one of routetables, deployments, upstreams and POLICY one "
         "of Fail, Ignore"),
        (["--failure-policy", "pods=Fail"], "'pods=Fail': give KIND=POLICY"),
        (["--timeout-seconds", "31"], "31 is not in the range 1<=x<=30"),
        # a drain past 10 s would leave the requests in flight too little of gunicorn's 15 s graceful stop
        (["--drain-seconds", "11"], "Invalid value for --drain-seconds: 11: give 0 to 10 seconds; the drain and "
         "the requests in flight after it share the 15 s graceful stop"),
        (["--drain-seconds", "-1"], "Invalid value for --drain-seconds: -1: give 0 to 10 seconds"),
        (["--drain-seconds", "nan"], "Invalid value for --drain-seconds: nan: give 0 to 10 seconds"),
        (["--drain-seconds", "3s"], "Invalid value for '--drain-seconds': '3s' is not a valid float."),
    ],
)
def test_serve_refuses_failure_policies_timeouts_and_drains_the_configurations_cannot_have(state, args, message):
    result = CliRunner().invoke(cli, ["serve", "--self-signed", "--state", str(state), *args])
    assert result.exit_code == 2 and message in result.output


def test_serve_refuses_a_probe_port_it_cannot_listen_on(tmp_path):
    certs.issue(tmp_path / "tls", ["localhost"])
    (tmp_path / "state").mkdir()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run("serve", "--host", "127.0.0.1", "--probe-port", str(port), "--cert-dir", str(tmp_path / "tls"),
                     "--state", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert f"--probe-port {port}: cannot listen on 127.0.0.1:{port} (Address already in use)\n" in result.stderr
