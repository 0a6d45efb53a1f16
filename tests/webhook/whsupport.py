"""Builders shared by the webhook tests: cluster objects, RouteTables, AdmissionReviews, contexts."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonpatch

from kubectl_canary.core.kinds import Obj
from webhook.admission.decision import Context, Settings
from webhook.admission.review import Review, parse_document
from webhook.cluster.state import StateLookup

NS = "echo"


def deployment(version: str, namespace: str = NS, app: str = "echo", extra: Mapping[str, str] | None = None) -> Obj:
    labels = {"app": app, "version": version, **(extra or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-{version}", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }


def upstream(
    name: str = "echo",
    namespace: str = NS,
    service_namespace: str | None = None,
    keys: Sequence[Sequence[str]] | None = (("version",),),
    selector: Mapping[str, str] | None = None,
) -> Obj:
    kube: Obj = {
        "selector": dict(selector) if selector is not None else {"app": name},
        "serviceName": name,
        "serviceNamespace": service_namespace or namespace,
        "servicePort": 8080,
    }
    if keys is not None:
        kube["subsetSpec"] = {"selectors": [{"keys": list(k)} for k in keys]}
    return {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": name, "namespace": namespace},
            "spec": {"kube": kube}}


def static_upstream(name: str = "static", namespace: str = NS) -> Obj:
    return {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": name, "namespace": namespace},
            "spec": {"static": {"hosts": [{"addr": "example.com", "port": 80}]}}}


def namespace(name: str = NS, api_group: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if api_group:
        meta["labels"] = {"kubectl-canary.io/api-group": api_group}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def dest(version: str | None = "v1", name: str = "echo", namespace: str | None = NS, **values: str) -> Obj:
    ref: Obj = {"name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    found: Obj = {"upstream": ref}
    subset = ({"version": version} if version is not None else {}) | values
    if subset:
        found["subset"] = {"values": subset}
    return found


def single(destination: Obj, prefix: str = "/echo", headers: Iterable[tuple[str, str]] = ()) -> Obj:
    matcher: Obj = {"prefix": prefix}
    if headers:
        matcher["headers"] = [{"name": n, "value": v} for n, v in headers]
    return {"matchers": [matcher], "routeAction": {"single": destination}}


def multi(entries: Sequence[tuple[Obj, int | None]], prefix: str = "/echo") -> Obj:
    destinations = []
    for destination, weight in entries:
        entry: Obj = {"destination": destination}
        if weight is not None:
            entry["weight"] = weight
        destinations.append(entry)
    return {"matchers": [{"prefix": prefix}], "routeAction": {"multi": {"destinations": destinations}}}


def weighted(weights: Sequence[int | None], prefix: str = "/echo") -> Obj:
    """A multi route to subsets v1, v2, ... with these weights."""
    return multi([(dest(f"v{i + 1}"), w) for i, w in enumerate(weights)], prefix)


def routetable(routes: Sequence[Obj], name: str = "echo-routes", namespace: str | None = NS,
               labels: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = dict(labels)
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable", "metadata": meta,
            "spec": {"routes": list(routes)}}


def cluster(*extra: Obj, versions: Sequence[str] = ("v1", "v2")) -> list[Obj]:
    """The seed's echo service: Namespace echo, Upstream echo/echo and a Deployment per version."""
    return [namespace(), upstream(), *(deployment(v) for v in versions), *extra]


def admission_review(
    obj: Obj | None,
    operation: str = "CREATE",
    old: Obj | None = None,
    uid: str = "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
    kind: tuple[str, str, str] = ("gateway.solo.io", "v1", "RouteTable"),
    dry_run: bool = False,
    namespace: str | None = None,
) -> Obj:
    subject = obj if obj is not None else old or {}
    meta = subject.get("metadata") or {}
    group, version, kind_name = kind
    request: Obj = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind_name},
        "resource": {"group": group, "version": version, "resource": kind_name.lower() + "s"},
        "name": meta.get("name", ""),
        "namespace": namespace or meta.get("namespace", NS),
        "operation": operation,
        "userInfo": {"username": "tester"},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def review(obj: Obj | None, operation: str = "CREATE", old: Obj | None = None, **kw: Any) -> Review:
    return parse_document(admission_review(obj, operation, old, **kw))


def context(
    obj: Obj | None,
    objects: Iterable[Obj] = (),
    operation: str = "CREATE",
    old: Obj | None = None,
    settings: Settings | None = None,
    **kw: Any,
) -> Context:
    return Context(review(obj, operation, old, **kw), StateLookup(objects), settings or Settings())


def applied(obj: Obj, response: Mapping[str, Any]) -> Obj:
    """`obj` with the response's base64 JSON Patch applied (unchanged when there is none)."""
    answer = response["response"]
    if "patch" not in answer:
        return copy.deepcopy(obj)
    assert answer["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(answer["patch"]))
    return jsonpatch.apply_patch(obj, ops)


def weights_of(rt: Obj, route: int = 0) -> list[int | None]:
    entries = rt["spec"]["routes"][route]["routeAction"]["multi"]["destinations"]
    return [e.get("weight") for e in entries]
