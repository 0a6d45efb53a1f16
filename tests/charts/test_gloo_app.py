"""charts/gloo-app beyond the seed: per-version settings over chart-wide defaults, the route prefix, and
bad values refused by `helm` with a message naming the field. The real `helm` renders every case."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubectl_canary.core import objects
from kubectl_canary.core.values import read_state
from tests.charts.chart import CHART, HELMS, SEED_VALUES, helm, render, render_error

SEED_1: dict[str, Any] = {"deployment": {"v1": {}}, "routes": {"apiGroup": "example", "primary": {"version": "v1"}}}


def _with(**changes: Any) -> dict[str, Any]:
    values = {"deployment": {"v1": {}, "v2": {}},
              "routes": {"apiGroup": "example", "primary": {"version": "v1"},
                         "canary": {"version": "v2", "weight": 10, "headers": {"stage": "canary"}}}}
    values.update(changes)
    return values


def _deployment(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def _container(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return _deployment(objs, name)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("name", HELMS)
def test_helm_lint_is_clean(name):
    proc = helm("lint", "--strict", str(CHART), name=name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


def test_a_version_setting_replaces_the_default_and_the_other_version_keeps_it(tmp_path):
    values = _with(
        defaults={"image": "ghcr.io/acme/echo:1", "replicas": 2, "env": [{"name": "MODE", "value": "prod"}],
                  "imagePullPolicy": "IfNotPresent", "containerPort": 8080},
        deployment={"v1": {}, "v2": {"image": "ghcr.io/acme/echo:2", "replicas": 1,
                                     "resources": {"limits": {"memory": "64Mi"}},
                                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                                     "pod": {"nodeSelector": {"disk": "ssd"}}}},
    )
    objs = render(values, tmp=tmp_path)
    v1, v2 = _container(objs, "echo-v1"), _container(objs, "echo-v2")
    assert (v1["image"], v2["image"]) == ("ghcr.io/acme/echo:1", "ghcr.io/acme/echo:2")
    assert "args" not in v1, "an image other than the seed's gets no args unless given"
    assert v1["env"] == v2["env"] == [{"name": "MODE", "value": "prod"}]
    assert v2["resources"] == {"limits": {"memory": "64Mi"}} and "resources" not in v1
    assert v2["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert [_deployment(objs, n)["spec"]["replicas"] for n in ("echo-v1", "echo-v2")] == [2, 1]
    assert _deployment(objs, "echo-v2")["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert "nodeSelector" not in _deployment(objs, "echo-v1")["spec"]["template"]["spec"]


def test_a_version_can_scale_to_zero_over_a_default_of_one(tmp_path):
    objs = render(_with(deployment={"v1": {}, "v2": {"replicas": 0}}), tmp=tmp_path)
    assert _deployment(objs, "echo-v2")["spec"]["replicas"] == 0


def test_the_route_prefix_applies_to_both_routes(tmp_path):
    objs = render(_with(routes={**_with()["routes"], "prefix": "/api/echo"}), tmp=tmp_path)
    rt = next(o for o in objs if o["kind"] == "RouteTable")
    assert [r["matchers"][0]["prefix"] for r in rt["spec"]["routes"]] == ["/api/echo", "/api/echo"]


def test_without_api_group_the_label_is_left_to_the_webhook(tmp_path):
    objs = render({"deployment": {"v1": {}}, "routes": {"primary": {"version": "v1"}}}, tmp=tmp_path)
    assert "labels" not in next(o for o in objs if o["kind"] == "RouteTable")["metadata"]


def test_the_service_port_is_the_upstream_port(tmp_path):
    objs = render({**SEED_1, "service": {"port": 8000}}, tmp=tmp_path)
    service = next(o for o in objs if o["kind"] == "Service")
    upstream = next(o for o in objs if o["kind"] == "Upstream")
    assert service["spec"]["ports"][0]["port"] == upstream["spec"]["kube"]["servicePort"] == 8000


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (_with(routes={"primary": {"version": "v1"}, "canary": {"version": "v2", "weight": 150}}),
         "/routes/canary/weight"),
        (_with(routes={"primary": {"version": "v1"}, "canary": {"version": "v2", "weight": "half"}}),
         "/routes/canary/weight"),
        ({"deployment": {"V1": {}}, "routes": {"primary": {"version": "V1"}}}, "'V1'"),
        ({"deployment": {"v1": {"replicas": -1}}, "routes": {"primary": {"version": "v1"}}},
         "/deployment/v1/replicas"),
        ({"deployment": {"v1": {}}, "routes": {"apiGroup": "not a label", "primary": {"version": "v1"}}},
         "/routes/apiGroup"),
        ({"deployment": {"v1": {}}, "routes": {}}, "routes.primary.version is not set"),
        (_with(routes={"primary": {"version": "v1"}, "canary": {"version": "v1"}}),
         "routes.canary.version v1 is also routes.primary.version"),
        (_with(routes={"primary": {"version": "v1"}, "canary": {"version": "v2", "headers": {"stage": ""}}}),
         "/routes/canary/headers/stage"),
    ],
)
@pytest.mark.parametrize("name", HELMS)
def test_bad_values_are_refused_naming_the_field(values, message, name, tmp_path):
    assert message in render_error(values, tmp_path, name=name)


@pytest.mark.parametrize("step", range(1, 7))
def test_the_release_carries_the_state_annotations_the_plugin_writes(step):
    values = yaml.safe_load((SEED_VALUES / f"values-{step}.yaml").read_text(encoding="utf-8"))
    state = read_state(values)
    objs = render(SEED_VALUES / f"values-{step}.yaml")
    rt = next(o for o in objs if o["kind"] == "RouteTable")
    assert state.routes is not None
    assert rt["metadata"]["annotations"] == objects.state_annotations("echo", state.routes)
    roles = {o["spec"]["selector"]["matchLabels"]["version"]: o["metadata"]["annotations"]["kubectl-canary.io/role"]
             for o in objs if o["kind"] == "Deployment"}
    assert roles == {v: "primary" if v == state.routes.primary else "canary" for v in state.versions}
