"""The plugin and the chart produce the seed's objects: in directory mode, from an empty directory, the six
steps of the seed's workflow leave after each step exactly what the seed's gloo-app chart renders for
values-1 ... values-6 (tests/data/seed, written by hand from the seed's templates and values); and the
chart in this repository (charts/gloo-app), rendered by the real `helm template` with the seed's values
files (tests/data/seed-values), renders exactly the same objects. Every field the chart renders must be
equal; extra labels and annotations are allowed, nothing else."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import seed_objects

from kubectl_canary.cli.main import cli
from kubectl_canary.core.kinds import Obj, ObjectRef
from tests.charts.chart import HELMS, SEED_VALUES, render

STEPS = [
    ["init", "echo", "--version", "v1", "--api-group", "example"],
    ["start", "echo", "--version", "v2", "--no-route"],
    ["start", "echo", "--version", "v2"],
    ["shift", "echo", "--weight", "50"],
    ["shift", "echo", "--weight", "100"],
    ["finish", "echo"],
]


def _without_extra_metadata(actual: Obj, expected: Obj) -> Obj:
    """`actual` with only the labels and annotations that `expected` has (extra ones are allowed)."""
    out = copy.deepcopy(actual)
    meta, wanted = out.get("metadata", {}), expected.get("metadata", {})
    for key in ("labels", "annotations"):
        kept = {k: v for k, v in (meta.get(key) or {}).items() if k in (wanted.get(key) or {})}
        if kept:
            meta[key] = kept
        else:
            meta.pop(key, None)
    return out


def differences(actual: list[Obj], expected: list[Obj]) -> list[str]:
    """What differs between two sets of objects: missing or extra objects, and unequal ones."""
    have = {ObjectRef.of(o): o for o in actual}
    want = {ObjectRef.of(o): o for o in expected}
    found = [f"missing {ref}" for ref in sorted(want.keys() - have.keys())]
    found += [f"unexpected {ref}" for ref in sorted(have.keys() - want.keys())]
    for ref in sorted(want.keys() & have.keys()):
        trimmed = _without_extra_metadata(have[ref], want[ref])
        if trimmed != want[ref]:
            found.append(f"{ref} differs:\n{yaml.safe_dump(trimmed)}expected:\n{yaml.safe_dump(want[ref])}")
    return found


def directory_objects(root: Path) -> list[Obj]:
    return [d for p in sorted(root.rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_each_step_leaves_the_objects_the_seed_chart_renders(tmp_path):
    runner = CliRunner()
    for number, args in enumerate(STEPS, start=1):
        result = runner.invoke(cli, [*args, "-n", "echo", "--files", str(tmp_path)], prog_name="kubectl canary")
        assert result.exit_code == 0, f"step {number} {args}: {result.output}"
        assert differences(directory_objects(tmp_path), seed_objects(number)) == [], f"after step {number}: {args}"


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("step", range(1, 7))
def test_the_chart_renders_the_seed_objects_for_each_values_file(step, helm):
    rendered = render(SEED_VALUES / f"values-{step}.yaml", name=helm)
    assert differences(rendered, seed_objects(step)) == []


@pytest.mark.parametrize(
    ("edit", "difference"),
    [
        (lambda objs: objs.pop(), "unexpected RouteTable echo/echo-routes"),
        (lambda objs: objs.append({"kind": "ConfigMap", "metadata": {"namespace": "echo", "name": "x"}}),
         "missing ConfigMap echo/x"),
        (lambda objs: objs[-1]["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][0].update(weight=60),
         "RouteTable echo/echo-routes differs"),
        (lambda objs: objs[0]["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicy="IfNotPresent"),
         "Deployment echo/echo-v1 differs"),
        (lambda objs: objs[-1]["metadata"]["labels"].update(apiGroup="other"), "RouteTable echo/echo-routes differs"),
        (lambda objs: objs[2]["spec"].update(type="NodePort"), "Service echo/echo differs"),
    ],
)
def test_the_comparison_detects_a_wrong_expectation(edit, difference):
    expected = seed_objects(4)
    wrong = copy.deepcopy(expected)
    edit(wrong)
    assert differences(expected, expected) == []
    found = differences(expected, wrong)
    assert found and found[0].startswith(difference)


def test_extra_labels_and_annotations_are_allowed_but_not_extra_fields():
    expected = seed_objects(1)
    actual = copy.deepcopy(expected)
    actual[0]["metadata"]["annotations"] = {"kubectl-canary.io/role": "primary"}
    actual[-1]["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "kubectl-canary"
    assert differences(actual, expected) == []
    actual[0]["spec"]["paused"] = True
    assert differences(actual, expected)[0].startswith("Deployment echo/echo-v1 differs")
