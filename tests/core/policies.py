"""Builders of CanaryPolicies and RouteTables for the pure policy and traffic tests."""

from __future__ import annotations

from kubectl_canary.core.policy import Policy, parse_policy

NS = "shop"


def policy_obj(name: str = "p", **spec) -> dict:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": name},
            "spec": spec}


def policy(name: str = "p", **spec) -> Policy:
    return parse_policy(policy_obj(name, **spec))


def namespace(name: str = NS, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def dest(version: str | None, upstream: str = "echo", ns: str | None = None) -> dict:
    ref = {"name": upstream, **({"namespace": ns} if ns else {})}
    return {"upstream": ref, **({"subset": {"values": {"version": version}}} if version else {})}


def route(action: dict, prefix: str = "/echo", headers: dict | None = None, **extra) -> dict:
    matcher: dict = {"prefix": prefix}
    if headers:
        matcher["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    return {"matchers": [matcher], "routeAction": action, **extra}


def single(version: str, **kw) -> dict:
    return route({"single": dest(version)}, **kw)


def split(weights: dict[str, int], **kw) -> dict:
    return route({"multi": {"destinations": [{"destination": dest(v), "weight": w} for v, w in weights.items()]}},
                 **kw)


def header(version: str, **kw) -> dict:
    return single(version, headers={"stage": "canary"}, **kw)


def rt(*routes: dict, ns: str = NS) -> dict:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "echo-routes", "namespace": ns}, "spec": {"routes": list(routes)}}


