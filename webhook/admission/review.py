"""AdmissionReview v1: reading a request from kube-apiserver and writing the response it accepts.

`parse` checks what the webhook relies on (apiVersion `admission.k8s.io/v1`, kind `AdmissionReview`,
a uid, the request kind and operation, and `object`/`oldObject` as the operation requires them) and
raises `BadRequest` (HTTP 400) naming the first thing that is wrong. `response` builds the reply the
way kube-apiserver checks it: same apiVersion and kind, the request's uid echoed, `status.code`
403 with the message on a denial, and a base64 JSON Patch with `patchType: JSONPatch`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.kinds import Obj
from webhook.admission import limits

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"
OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")
# Kubernetes asks for warnings of at most 120 characters where possible and may truncate those over 256.
WARNING_LIMIT: Final = 120
WARNING_MAX: Final = 256


class BadRequest(InvalidObject):
    """The body is not an AdmissionReview v1 the webhook can answer: HTTP 400 with this message."""

    status = 400


class TooLarge(BadRequest):
    """The body is over the size the webhook reads: HTTP 413."""

    status = 413


@dataclass(frozen=True)
class GroupKind:
    """`request.kind` without its version: the webhook judges RouteTables and Deployments of any version."""

    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True)
class Review:
    """One admission request: what is being done to which object, with the object before and after.

    `namespace` is the request's (a CREATE's object may omit its own); `obj` is None for DELETE,
    `old` is None for CREATE.
    """

    uid: str
    kind: GroupKind
    operation: str
    namespace: str
    name: str
    obj: Obj | None
    old: Obj | None
    dry_run: bool = False

    def is_kind(self, group: str, kind: str) -> bool:
        return self.kind == GroupKind(group, kind)

    @property
    def subject(self) -> Obj | None:
        """The object the request is about: the new one, or for a DELETE the one being deleted."""
        return self.obj if self.obj is not None else self.old


def _field(doc: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        expected = "an object" if kind is dict else "a non-empty string"
        raise BadRequest(f"{where}{key} must be {expected}")
    return value


def _optional_object(request: Mapping[str, Any], key: str, required: bool, operation: str) -> Obj | None:
    value = request.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"request.{key} must be an object for a {operation}")
    return value


def parse_document(doc: Any) -> Review:
    """The Review in a decoded AdmissionReview, or BadRequest saying what is missing or wrong."""
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object (an AdmissionReview)")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise BadRequest(
            f"expected apiVersion {API_VERSION} kind {KIND}, got apiVersion {limits.show(doc.get('apiVersion'))} "
            f"kind {limits.show(doc.get('kind'))} (set admissionReviewVersions: [v1] in the webhook configuration)"
        )
    request = _field(doc, "request", dict, "")
    uid = _field(request, "uid", str, "request.")
    kind = _field(request, "kind", dict, "request.")
    kind_name = _field(kind, "kind", str, "request.kind.")
    group = kind.get("group") or ""
    if not isinstance(group, str):
        raise BadRequest("request.kind.group must be a string")
    operation = _field(request, "operation", str, "request.")
    if operation not in OPERATIONS:
        raise BadRequest(f"request.operation must be one of {', '.join(OPERATIONS)}, got {limits.show(operation)}")
    obj = _optional_object(request, "object", operation in ("CREATE", "UPDATE"), operation)
    old = _optional_object(request, "oldObject", operation in ("UPDATE", "DELETE"), operation)
    # CONNECT carries connect options, not the object; keep nothing of it.
    if operation == "CONNECT":
        obj = old = None
    return Review(
        uid=uid,
        kind=GroupKind(group, kind_name),
        operation=operation,
        namespace=str(request.get("namespace") or ""),
        name=str(request.get("name") or ""),
        obj=obj,
        old=old,
        dry_run=request.get("dryRun") is True,
    )


def parse(body: bytes) -> Review:
    """The Review in a raw request body (JSON)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the body is not JSON: {limits.clip(str(err))}") from err
    except RecursionError as err:
        # `[[[[...` deep enough exhausts the parser's stack: a malformed body, not a bug of ours.
        raise BadRequest("the body is not JSON the webhook reads: it is nested too deeply") from err
    return parse_document(doc)


def short(text: str, limit: int = WARNING_LIMIT) -> str:
    """`text` on one line and cut to `limit` characters (with an ellipsis when cut); a huge word (a name)
    is cut first, so that what follows it is still read."""
    return limits.clip(text, limit, word=limit)


def encode_patch(patch: Sequence[Mapping[str, Any]]) -> str:
    return base64.b64encode(json.dumps(list(patch), separators=(",", ":")).encode()).decode("ascii")


def response(
    uid: str,
    allowed: bool,
    message: str | None = None,
    patch: Sequence[Mapping[str, Any]] | None = None,
    warnings: Iterable[str] = (),
) -> Obj:
    """The AdmissionReview that answers request `uid` (a patch only when allowed and non-empty)."""
    answer: Obj = {"uid": uid, "allowed": allowed}
    if not allowed:
        answer["status"] = {"code": 403, "reason": "Forbidden", "message": message or "denied"}
    if allowed and patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = encode_patch(patch)
    # At most MAX_WARNINGS (kube-apiserver keeps about 4 kB of them), the rest counted in one more.
    found = [short(w, WARNING_MAX) for w in limits.capped(list(warnings), limits.MAX_WARNINGS, "more warnings")]
    if found:
        answer["warnings"] = found
    return {"apiVersion": API_VERSION, "kind": KIND, "response": answer}
