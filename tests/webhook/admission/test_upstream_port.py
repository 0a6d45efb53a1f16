"""The Upstream `servicePort` rule: Gloo matches `kube.servicePort` against the Service's ports, and an
Upstream naming the pods' port (the seed's 8080) is Accepted with no endpoints, so every request gets
503. The webhook refuses such an Upstream, and a RouteTable route to one."""

from __future__ import annotations

import copy

import pytest
from whrules import validate
from whsupport import cluster, context, dest, routetable, single, upstream

from kubectl_canary.core.kinds import Obj

UPSTREAM_KIND = ("gloo.solo.io", "v1", "Upstream")
PORT_PROBLEM = ("Upstream echo/echo port 8080 is not a port of Service echo (8080 is its targetPort, the pods' "
                "port): Gloo builds no endpoints for it and every request gets 503; set spec.kube.servicePort to "
                "one of the Service's ports (80)")


def service(port: int = 80, target: int = 8080) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": "echo"},
            "spec": {"ports": [{"port": port, "targetPort": target}], "selector": {"app": "echo"}}}


def with_port(port: int) -> Obj:
    up = upstream()
    up["spec"]["kube"]["servicePort"] = port
    return up


@pytest.mark.parametrize(("port", "objects", "allowed"), [
    (80, [service()], True),
    (8080, [service()], False),
    (8080, [], True),  # no Service yet (applied before it): its ports are unknown
])
def test_an_upstream_write_is_judged_against_its_services_ports(port, objects, allowed) -> None:
    verdict = validate(context(with_port(port), objects, kind=UPSTREAM_KIND))
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.message == PORT_PROBLEM or PORT_PROBLEM in verdict.message, verdict.message


def test_a_status_write_on_an_existing_bad_upstream_only_warns() -> None:
    old = with_port(8080)
    new = copy.deepcopy(old) | {"status": {"statuses": {"gloo-system": {"state": "Accepted"}}}}
    verdict = validate(context(new, [service()], operation="UPDATE", old=old, kind=UPSTREAM_KIND))
    assert verdict.allowed
    assert verdict.warnings == ("not enforced (spec unchanged): " + PORT_PROBLEM,)


def test_a_route_to_an_upstream_with_the_pods_port_is_refused() -> None:
    objects = [o for o in cluster() if o["kind"] != "Upstream"] + [with_port(8080), service()]
    verdict = validate(context(routetable([single(dest("v1"))]), objects))
    assert not verdict.allowed
    assert PORT_PROBLEM in verdict.message
    fixed = [o for o in cluster() if o["kind"] != "Upstream"] + [with_port(80), service()]
    assert validate(context(routetable([single(dest("v1"))]), fixed)).allowed
