"""AdmissionReview responses in the shape kube-apiserver checks, and what a Review is read as."""

from __future__ import annotations

import base64
import json

import pytest
from whsupport import admission_review, routetable

from webhook.admission.review import BadRequest, GroupKind, parse, response, short


def test_an_allowed_response_with_a_patch():
    answer = response("u-1", True, patch=[{"op": "replace", "path": "/a~1b", "value": 1}], warnings=["w"])
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "u-1", "allowed": True, "patchType": "JSONPatch",
            "patch": base64.b64encode(b'[{"op":"replace","path":"/a~1b","value":1}]').decode(),
            "warnings": ["w"],
        },
    }


def test_a_denial_carries_403_and_the_message_and_never_a_patch():
    answer = response("u-2", False, "route /echo: broken", patch=[{"op": "add", "path": "/x", "value": 1}])
    assert answer["response"] == {
        "uid": "u-2", "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": "route /echo: broken"},
    }


def test_no_patch_and_no_warnings_are_left_out():
    assert response("u-3", True, patch=[], warnings=[])["response"] == {"uid": "u-3", "allowed": True}


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 120, "short"),
        ("a\nb   c", 120, "a b c"),
        ("x" * 121, 120, "x" * 119 + "…"),
        ("x" * 120, 120, "x" * 120),
    ],
)
def test_short(text, limit, expected):
    assert short(text, limit) == expected


def test_warnings_over_256_characters_are_cut_for_the_api_server():
    answer = response("u", True, warnings=["y" * 300])
    assert len(answer["response"]["warnings"][0]) == 256


def test_a_review_is_read_with_its_kind_operation_namespace_and_objects():
    rt = routetable([], namespace=None)
    doc = admission_review(rt, "UPDATE", old=rt, namespace="team", dry_run=True)
    review = parse(json.dumps(doc).encode())
    assert review.kind == GroupKind("gateway.solo.io", "RouteTable")
    assert (review.operation, review.namespace, review.name, review.dry_run) == ("UPDATE", "team", "echo-routes", True)
    assert review.obj == rt and review.old == rt and review.subject == rt


def test_connect_requests_carry_no_object():
    doc = admission_review({"kind": "PodExecOptions"}, "CONNECT", kind=("", "v1", "Pod"))
    review = parse(json.dumps(doc).encode())
    assert review.obj is None and review.old is None and str(review.kind) == "Pod"


def test_bad_request_is_an_invalid_object_error_with_a_message():
    from kubectl_canary.core.errors import InvalidObject

    with pytest.raises(BadRequest, match="the body is not JSON") as caught:
        parse(b"{")
    assert isinstance(caught.value, InvalidObject)
