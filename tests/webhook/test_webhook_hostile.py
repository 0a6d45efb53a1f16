"""Hostile and odd input through the real `canary-webhook serve` process: every input class gets a 400,
a 413 or a clear decision, never an internal error or an object admitted unjudged; answers and log
lines stay small whatever the request's size; an UPDATE is judged on what it changes (ratcheting)."""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_webhook_server import issue, write_state
from whrules import mutate, validate
from whserver import Running, serve, session
from whsupport import admission_review, applied, cluster, context, dest, multi, namespace, routetable, single, weighted

from webhook.admission import limits

Server = tuple[Running, Path]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("hostile")
    ca = issue(base / "tls")
    state = write_state(base / "state", cluster(namespace("team", "team-group")))
    with serve(["--cert-dir", str(base / "tls"), "--state", str(state)], base / "server.log") as running:
        yield running, ca


@pytest.fixture
def client(server: Server) -> Iterator[requests.Session]:
    with session(server[1]) as found:
        yield found


def post(server: Server, client: requests.Session, path: str, body) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"{server[0].url}{path}", data=data, headers={"Content-Type": "application/json"}, timeout=30)


def raw(server: Server, request: bytes) -> bytes:
    """What the server answers to `request`, sent as is over TLS, until it closes or 5 s pass."""
    context = ssl.create_default_context(cafile=str(server[1]))
    with (socket.create_connection(("127.0.0.1", server[0].port), timeout=5) as sock,
          context.wrap_socket(sock, server_hostname="localhost") as tls):
        tls.sendall(request)
        answer = b""
        try:
            while chunk := tls.recv(65536):
                answer += chunk
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return answer


def deep_options(depth: int) -> dict:
    rt = routetable([single(dest("v1"))], namespace="team")
    options: dict = {}
    inner = options
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    rt["spec"]["routes"][0]["options"] = options
    return rt


@pytest.mark.parametrize("depth", [90, 900])
def test_a_deeply_nested_object_is_judged_like_any_other(server, client, depth):
    # 900 levels parse as JSON; nothing copies or diffs the object, so no depth limit stands in the way.
    body = post(server, client, "/mutate", admission_review(deep_options(depth))).json()
    assert body["response"]["allowed"] is True
    assert json.loads(base64.b64decode(body["response"]["patch"])) == [
        {"op": "add", "path": "/metadata/labels", "value": {"apiGroup": "team-group"}}]
    assert post(server, client, "/validate", admission_review(deep_options(depth))).json()["response"]["allowed"]


@pytest.mark.parametrize("decide", [mutate, validate])
def test_an_object_a_rule_cannot_compare_is_denied_saying_where_not_admitted_unchanged(decide):
    # Built in Python, an object can nest past the recursion limit (JSON cannot reach the webhook so deep):
    # comparing an UPDATE's spec with the old one then recurses too far, and the answer says why.
    old, new = deep_options(sys.getrecursionlimit() + 100), deep_options(sys.getrecursionlimit() + 100)
    verdict = decide(context(new, [namespace("team", "team-group")], operation="UPDATE", old=old))
    assert verdict.allowed is False
    assert verdict.message == ("object nests more than 100 levels deep (at spec.routes[0].options.a.a.…); "
                               "canary-webhook cannot judge it: flatten that field")


def test_weights_of_4300_digits_are_a_denial_naming_them(server, client):
    huge = int("9" * 4300)
    review = admission_review(routetable([weighted([huge] * 11)]))
    response = post(server, client, "/validate", review).json()["response"]
    assert response["allowed"] is False
    assert ("route /echo: weights a 4300-digit number,a 4300-digit number,a 4300-digit number,"
            in response["status"]["message"])
    assert "include one over Gloo's maximum 4294967295" in response["status"]["message"]
    # mutation leaves such weights to validation (and the API server's schema) rather than rescaling them
    assert "patch" not in post(server, client, "/mutate", review).json()["response"]


def test_a_number_too_long_for_json_is_a_400(server, client):
    body = json.dumps(admission_review(routetable([weighted([1, 3])])))
    body = body.replace('"weight": 1', '"weight": ' + "9" * 5000)
    answer = post(server, client, "/validate", body.encode())
    assert answer.status_code == 400 and answer.json()["error"].startswith("the body is not JSON")


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2;a\rb\r\n{}\r\n0\r\n\r\n",
     b"2\r\n{}XX0\r\n\r\n"],
    ids=["not-hex", "short-chunk", "bad-extension", "no-terminator"],
)
def test_a_bad_chunked_body_is_a_400(server, chunks):
    request = (b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    answer = raw(server, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"error":"the body cannot be read: ' in answer


def test_twenty_missing_upstreams_with_huge_names_get_a_small_denial(server, client):
    name = "u" * 15_000
    rt = routetable([single(dest("v1", name=f"{name}{i}"), prefix=f"/p{i}") for i in range(20)])
    request = json.dumps(admission_review(rt)).encode()
    answer = post(server, client, "/validate", request)
    message = answer.json()["response"]["status"]["message"]
    assert message.startswith("20 problems: route /p0 -> echo/uuuu")
    assert re.search(r"…\(150\d\d chars\) does not exist", message)
    assert len(answer.content) < 20 * limits.MAX_MESSAGE + 1000 < len(request) / 10


def test_three_thousand_unserved_weight_0_destinations_get_a_bounded_list_of_warnings(server, client):
    rt = routetable([multi([(dest("v1"), 100)] + [(dest(f"x{i}"), 0) for i in range(3000)])])
    response = post(server, client, "/validate", admission_review(rt)).json()["response"]
    assert response["allowed"] is True
    warnings = response["warnings"]
    assert len(warnings) == limits.MAX_WARNINGS + 1
    assert warnings[-1] == "and 2,980 more warnings"
    assert all(len(w) <= 256 for w in warnings)


def test_a_400_does_not_echo_a_huge_field(server, client):
    review = admission_review(routetable([single(dest("v1"))]))
    review["request"]["operation"] = "X" * 3_000_000
    answer = post(server, client, "/validate", review)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got")
    assert len(answer.content) < 1000


def test_a_huge_name_makes_a_bounded_log_line(server, client):
    rt = routetable([single(dest("v1"))], name="n" * 3_000_000)
    post(server, client, "/validate", admission_review(rt, uid="huge-name"))
    lines = [line for line in server[0].log_text().splitlines() if '"uid":"huge-name"' in line]
    assert len(lines) == 1 and len(lines[0]) <= limits.MAX_LOG_LINE
    assert json.loads(lines[0])["name"].startswith("nnnn")


def legacy() -> dict:
    """A RouteTable stored before the webhook was installed: no apiGroup label, weights 1,3, a route to v7."""
    return routetable([weighted([1, 3]), single(dest("v7"), prefix="/x")], namespace="team")


def through_both(server: Server, client: requests.Session, new: dict, old: dict) -> dict:
    """What kube-apiserver does: /mutate, apply its patch, /validate the result."""
    mutated = post(server, client, "/mutate", admission_review(new, "UPDATE", old=old)).json()
    assert mutated["response"]["allowed"] is True
    patched = applied(new, mutated)
    return post(server, client, "/validate", admission_review(patched, "UPDATE", old=old)).json()["response"]


def test_a_status_write_to_a_route_table_that_predates_the_webhook_is_admitted_with_warnings(server, client):
    old = legacy()
    new = json.loads(json.dumps(old))
    new["status"] = {"statuses": {"gloo-system": {"state": "Accepted"}}}
    response = through_both(server, client, new, old)
    assert response["allowed"] is True
    assert response["warnings"] == [
        "not enforced (already there before this update): route /x -> echo/echo subset version=v7: "
        "no Deployment in namespace echo serves it; found v1, v2"]


def test_a_relabel_only_update_is_normalised_and_admitted(server, client):
    old = legacy()
    new = routetable([weighted([1, 3]), single(dest("v7"), prefix="/x")], namespace="team", labels={"apiGroup": "b"})
    assert through_both(server, client, new, old)["allowed"] is True


def test_an_update_that_adds_a_problem_is_still_denied(server, client):
    old = legacy()
    new = routetable([weighted([1, 3]), single(dest("v7"), prefix="/x"), single(dest("v9"), prefix="/y")],
                     namespace="team")
    response = through_both(server, client, new, old)
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "route /y -> echo/echo subset version=v9: no Deployment in namespace echo serves it; found v1, v2")
