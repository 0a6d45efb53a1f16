"""The data path judged from plain objects: Gloo's verdicts, ready endpoints by version, and every
problem that keeps requests from landing where the routes say."""

from __future__ import annotations

import pytest
from conftest import accepted, data_path, service_objects

from kubectl_canary.core.datapath import Observed, data_path_of, delegates_to, service_port_problem, verdict
from kubectl_canary.core.routes import RouteState

HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))


def observed(ready: dict[str, int], **changes) -> Observed:
    svc, up, rt, *_ = service_objects(HEADER, {"v1": "primary", "v2": "canary"})
    *pods, eps, vs = data_path(ready)
    fields = {"routetable": accepted(rt), "upstream": accepted(up), "service": svc, "endpoint_slices": [eps],
              "pods": pods, "virtualservices": [vs]}
    fields.update(changes)
    return Observed(**fields)


def test_a_healthy_service_has_no_problem_and_counts_endpoints_by_version() -> None:
    found = data_path_of(observed({"v1": 2, "v2": 1}), "echo", {"v1", "v2"})
    assert found.problems == ()
    assert found.endpoints == {"v1": 2, "v2": 1}
    assert [(g.kind, g.state) for g in found.gloo] == [("RouteTable", "Accepted"), ("Upstream", "Accepted"),
                                                       ("VirtualService", "Accepted")]


def _seed_upstream() -> dict:
    up = service_objects(HEADER, {})[1]
    up["spec"]["kube"]["servicePort"] = 8080
    return accepted(up)


@pytest.mark.parametrize(("ready", "changes", "problem"), [
    ({"v1": 1}, {}, "v2: 0 ready endpoints; Gloo's subset fallback sends its requests to the other versions"),
    ({"v1": 1, "v2": 1}, {"upstream": None}, "Upstream echo/echo does not exist: the routes send traffic nowhere"),
    ({"v1": 1, "v2": 1}, {"service": None}, "Service echo/echo does not exist: Gloo finds no endpoints"),
    ({"v1": 1, "v2": 1}, {"upstream": _seed_upstream()},
     "Upstream echo/echo port 8080 is not a port of Service echo (8080 is its targetPort, the pods' port): Gloo "
     "builds no endpoints for it and every request gets 503; set spec.kube.servicePort to one of the Service's "
     "ports (80)"),
    ({"v1": 1, "v2": 1}, {"virtualservices": []},
     "no VirtualService delegates to RouteTable echo/echo-routes (apiGroup example): no request reaches it"),
    ({"v1": 1, "v2": 1}, {"routetable": accepted(service_objects(HEADER, {})[2], "Rejected", "bad subset")},
     "Gloo: RouteTable echo/echo-routes: Rejected (bad subset)"),
    ({"v1": 1, "v2": 1}, {"upstream": accepted(service_objects(HEADER, {})[1], "Warning", "w")},
     "Gloo: Upstream echo/echo: Warning (w)"),
    ({"v1": 1, "v2": 1}, {"routetable": service_objects(HEADER, {})[2]},
     "Gloo has not reported on RouteTable echo/echo-routes: is Gloo running, and watching namespace echo?"),
])
def test_each_problem_is_named(ready, changes, problem) -> None:
    problems = data_path_of(observed(ready, **changes), "echo", {"v1", "v2"}).problems
    assert any(p.startswith(problem) for p in problems), problems


def test_a_version_that_gets_no_traffic_may_have_no_endpoints() -> None:
    # At weight 100 the primary has weight 0 and no header route: nothing is sent to it.
    assert data_path_of(observed({"v2": 1}), "echo", {"v2"}).problems == ()


def test_not_ready_endpoints_and_other_services_pods_do_not_count() -> None:
    seen = observed({"v1": 1, "v2": 1})
    seen.endpoint_slices[0]["endpoints"][1]["conditions"]["ready"] = False
    assert data_path_of(seen, "echo", {"v1", "v2"}).endpoints == {"v1": 1}


def test_unknown_virtualservices_are_not_a_problem_and_not_shown() -> None:
    found = data_path_of(observed({"v1": 1, "v2": 1}, virtualservices=None), "echo", {"v1", "v2"})
    assert found.problems == () and [g.kind for g in found.gloo] == ["RouteTable", "Upstream"]


@pytest.mark.parametrize(("action", "selects"), [
    ({"selector": {"labels": {"apiGroup": "example"}, "namespaces": ["*"]}}, True),
    ({"selector": {"labels": {"apiGroup": "other"}, "namespaces": ["*"]}}, False),
    ({"selector": {"labels": {"apiGroup": "example"}}}, False),  # only the VirtualService's own namespace
    ({"selector": {"labels": {"apiGroup": "example"}, "namespaces": ["echo"]}}, True),
    ({"ref": {"name": "echo-routes", "namespace": "echo"}}, True),
    ({"ref": {"name": "echo-routes"}}, False),  # a ref without namespace names nothing (tests/e2e/test_gloo_rules)
    ({"name": "echo-routes", "namespace": "echo"}, True),  # the deprecated fields
])
def test_delegation_follows_gloos_rules(action, selects) -> None:
    rt = service_objects(HEADER, {})[2]
    vs = {"metadata": {"name": "app", "namespace": "gloo-system"},
          "spec": {"virtualHost": {"routes": [{"delegateAction": action}]}}}
    assert delegates_to(vs, rt) is selects


def test_a_ref_without_namespace_names_nothing_even_beside_its_virtual_service() -> None:
    rt = service_objects(HEADER, {})[2]
    vs = {"metadata": {"name": "app", "namespace": "echo"},
          "spec": {"virtualHost": {"routes": [{"delegateAction": {"ref": {"name": "echo-routes"}}}]}}}
    assert delegates_to(vs, rt) is False


@pytest.mark.parametrize(("statuses", "state"), [
    (None, None),
    ({"gloo-system": {"state": "Accepted"}}, "Accepted"),
    ({"a": {"state": "Accepted"}, "b": {"state": "Rejected", "reason": "x"}}, "Rejected"),
])
def test_the_worst_verdict_of_any_reporter_counts(statuses, state) -> None:
    obj = {"metadata": {"name": "n", "namespace": "ns"}, **({"status": {"statuses": statuses}} if statuses else {})}
    assert verdict("RouteTable", obj).state == state


def test_service_port_problem_is_none_for_a_service_port_and_non_kube_upstreams() -> None:
    svc, up, *_ = service_objects(HEADER, {})
    assert service_port_problem(up, svc) is None
    assert service_port_problem({"spec": {"static": {}}}, svc) is None
