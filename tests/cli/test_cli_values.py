"""`--values FILE` end to end through the CLI: the seed's six values files produced one from the other by
the commands, a user's comments and keys the plugin does not know kept, and the file each step leaves
rendered by the real `helm template` into the seed's objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import seed_objects

from kubectl_canary.cli.main import cli
from tests.charts.chart import SEED_VALUES, render
from tests.test_seed_conformance import differences

STEPS = [
    ["start", "echo", "--version", "v2", "--no-route"],
    ["start", "echo", "--version", "v2"],
    ["shift", "echo", "--weight", "50"],
    ["shift", "echo", "--weight", "100"],
    ["finish", "echo"],
]
USER_TEXT = """\
# echo: owned by team payments; applied by Flux from this repository
deployment:
  v1: {}  # the version in production
routes:
  apiGroup: example
  primary:
    version: v1
team: payments   # a key of our own, unknown to the chart
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="kubectl canary")


def seed_text(step: int) -> str:
    return (SEED_VALUES / f"values-{step}.yaml").read_text(encoding="utf-8")


def data(path: Path) -> dict:
    found = yaml.safe_load(path.read_text(encoding="utf-8"))
    found.pop("team", None)
    return found


def test_the_commands_turn_each_seed_values_file_into_the_next_keeping_comments_and_unknown_keys(tmp_path):
    values = tmp_path / "echo.yaml"
    values.write_text(USER_TEXT, encoding="utf-8")
    for step, args in enumerate(STEPS, start=2):
        result = run(*args, "--values", str(values))
        assert result.exit_code == 0, result.output
        assert data(values) == yaml.safe_load(seed_text(step)), f"after {args}"
        text = values.read_text(encoding="utf-8")
        assert "# echo: owned by team payments; applied by Flux from this repository" in text
        assert "team: payments   # a key of our own, unknown to the chart" in text
        assert differences(render(values), seed_objects(step)) == [], f"helm template after {args}"
    assert "# the version in production" not in values.read_text(encoding="utf-8"), "v1 went, with its comment"


def test_init_writes_values_1(tmp_path):
    values = tmp_path / "new" / "echo.yaml"
    result = run("init", "echo", "--version", "v1", "--api-group", "example", "--values", str(values))
    assert result.exit_code == 0, result.output
    assert values.read_text(encoding="utf-8") == seed_text(1)


@pytest.mark.parametrize(("step", "args"), [(2, STEPS[0]), (3, STEPS[1]), (5, STEPS[3]), (6, STEPS[4])])
def test_a_step_on_the_seed_text_gives_the_next_seed_text_exactly(tmp_path, step, args):
    values = tmp_path / "values.yaml"
    values.write_text(seed_text(step - 1), encoding="utf-8")
    assert run(*args, "--values", str(values)).exit_code == 0
    assert values.read_text(encoding="utf-8") == seed_text(step)


def test_finish_from_weight_50_writes_the_traffic_move_first_and_says_to_run_again(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(seed_text(4), encoding="utf-8")
    first = run("finish", "echo", "--values", str(values))
    assert first.exit_code == 0 and values.read_text(encoding="utf-8") == seed_text(5)
    assert "run `kubectl canary finish echo` again" in first.output
    assert run("finish", "echo", "--values", str(values)).exit_code == 0
    assert values.read_text(encoding="utf-8") == seed_text(6)


def test_abort_delete_canary_from_phase_header_takes_two_runs(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(seed_text(3), encoding="utf-8")
    first = run("abort", "echo", "--delete-canary", "--values", str(values))
    assert first.exit_code == 0 and "run `kubectl canary abort echo --delete-canary` again" in first.output
    assert yaml.safe_load(values.read_text()) == yaml.safe_load(seed_text(2))
    assert run("abort", "echo", "--delete-canary", "--values", str(values)).exit_code == 0
    assert values.read_text(encoding="utf-8") == seed_text(1)


def test_dry_run_client_prints_a_diff_or_the_new_values_and_writes_nothing(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(seed_text(3), encoding="utf-8")
    diff = run("shift", "echo", "--weight", "50", "--values", str(values), "--dry-run=client")
    assert diff.exit_code == 0 and "+    weight: 50" in diff.output
    whole = run("shift", "echo", "--weight", "50", "--values", str(values), "--dry-run=client", "-o", "yaml")
    assert yaml.safe_load(whole.stdout) == yaml.safe_load(seed_text(4))
    assert values.read_text(encoding="utf-8") == seed_text(3)


def test_status_shows_the_unrouted_canary_as_a_step_not_drift(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(seed_text(2), encoding="utf-8")
    result = run("status", "echo", "--values", str(values))
    assert result.exit_code == 0 and "v2 is deployed without traffic (start --no-route)" in result.output
    assert "drift" not in result.output.lower()
    as_yaml = yaml.safe_load(run("status", "echo", "--values", str(values), "-o", "yaml").output)
    assert as_yaml["deployedWithoutTraffic"] == ["v2"] and as_yaml["phase"] == "stable"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["shift", "echo", "--weight", "5", "--values", "missing.yaml"], "not found", 1),
        (["shift", "echo", "--weight", "5", "--values", "v.yaml", "--context", "dev"], "cannot be combined", 2),
        (["shift", "echo", "--weight", "5", "--values", "v.yaml", "--dry-run=server"], "needs a cluster", 2),
        (["list", "--values", "v.yaml"], "holds one service", 2),
    ],
)
def test_bad_use_of_values_is_refused(tmp_path, monkeypatch, args, message, code):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.yaml").write_text(seed_text(3), encoding="utf-8")
    result = run(*args)
    assert result.exit_code == code and message in result.output
