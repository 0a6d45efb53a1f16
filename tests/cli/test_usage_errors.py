"""Usage errors exit 2 before any store is opened: no store is injected here, HOME is empty and
KUBECONFIG unset, so a command that opened its store would fail with exit 1 ("no kubeconfig found")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubectl_canary.cli.env import Env
from kubectl_canary.cli.main import cli

PLUGIN = Path(sys.executable).parent / "kubectl-canary"


def _no_cluster(home: Path) -> dict[str, str]:
    """The process environment without a kubeconfig or an in-cluster service account."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    return {**env, "HOME": str(home), "KUBECONFIG": ""}


def _runner_env(home: Path) -> dict[str, str | None]:
    return {"HOME": str(home), "KUBECONFIG": "", "KUBERNETES_SERVICE_HOST": None}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "BAD"], "invalid service name 'BAD'"),
        (["shift", "BAD", "--weight", "10"], "invalid service name 'BAD'"),
        (["finish", "Bad_name"], "invalid service name 'Bad_name'"),
        (["abort", "x-"], "invalid service name 'x-'"),
        (["init", "echo", "--version", "V2"], "invalid version 'V2'"),
        (["init", "echo", "--version", "v1", "--api-group", "not a label"], "invalid --api-group 'not a label'"),
        (["init", "echo", "--version", "v1", "--prefix", "echo"], "invalid --prefix 'echo'"),
        (["start", "echo", "--version", "V2"], "invalid version 'V2'"),
        (["start", "echo", "--version", "v2", "--header", "novalue"], "invalid --header 'novalue'"),
        (["start", "echo", "--version", "v2", "--header", "a=1", "--header", "a=2"], "names a header twice"),
    ],
)
def test_usage_errors_exit_2_without_opening_a_store(tmp_path, args, message):
    result = CliRunner().invoke(cli, args, obj=Env(), prog_name="kubectl canary", env=_runner_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "kubeconfig" not in result.output


def test_the_executable_exits_2_on_a_bad_service_name_without_a_kubeconfig(tmp_path):
    proc = subprocess.run([str(PLUGIN), "status", "BAD"], capture_output=True, text=True, timeout=60,
                          env=_no_cluster(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "error: invalid service name 'BAD'" in proc.stderr


def test_a_valid_command_still_reaches_the_store(tmp_path):
    # The control: the same environment does open the (missing) cluster for a valid command.
    result = CliRunner().invoke(cli, ["status", "echo"], obj=Env(), env=_runner_env(tmp_path))
    assert result.exit_code == 1
    assert "no kubeconfig found" in result.output
