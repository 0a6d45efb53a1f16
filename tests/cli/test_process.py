"""The installed executable as a real process: kubectl finds it as a plugin, and the runs that need no
cluster never import the kubernetes client (`python -X importtime` lists every module imported)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from required import missing_tool

BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-canary"


def _kubectl() -> str | None:
    """kubectl from PATH, else the one the e2e tool build leaves in its cache (${KUBECTL_CANARY_CACHE:-
    ~/.cache/kubectl-canary}, as build-tools.sh says)."""
    found = shutil.which("kubectl")
    if found:
        return found
    # tests/ is not a package: pytest puts tests/ on sys.path, so the e2e package imports as `e2e`.
    from e2e import tools

    built = tools.tool("kubectl")
    return str(built) if built.exists() else None


def _imports(*args: str, cwd: Path) -> list[str]:
    """The modules a run of the plugin imported, from `-X importtime` (which writes them to stderr)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", str(PLUGIN), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "KUBECONFIG": str(cwd / "no-such-kubeconfig")})
    return [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]


def _kubernetes(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "kubernetes" or m.startswith("kubernetes.")]


def test_runs_without_a_cluster_do_not_import_the_kubernetes_client(tmp_path, run):
    files = ["-n", "echo", "--files", str(tmp_path)]
    assert run("init", "echo", "--version", "v1", *files).exit_code == 0
    assert run("start", "echo", "--version", "v2", *files).exit_code == 0
    runs = [
        ["--help"],
        ["status", "echo", *files],
        ["shift", "echo", "--weight", "50", *files],
        ["finish", "echo", "--dry-run=client", "-o", "yaml", *files],
        ["list", "-A", "--files", str(tmp_path)],
    ]
    for args in runs:
        modules = _imports(*args, cwd=tmp_path)
        assert "kubectl_canary.cli.commands" in modules, args
        assert _kubernetes(modules) == [], args


def test_a_cluster_run_does_import_it(tmp_path):
    # The control for the test above: the same check sees the client when a cluster is used.
    assert _kubernetes(_imports("status", "echo", cwd=tmp_path))


def test_kubectl_finds_the_plugin(tmp_path):
    kubectl = _kubectl()
    if kubectl is None:
        missing_tool("no kubectl on PATH or in the tools cache (make tools): cannot show kubectl finding the plugin")
    # PATH holds only the plugin's directory and a link to kubectl, so no other plugin can shadow it.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubectl").symlink_to(kubectl)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{tmp_path / 'bin'}", "HOME": str(tmp_path)}
    listed = subprocess.run(["kubectl", "plugin", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert str(PLUGIN) in listed.stdout
    helped = subprocess.run(["kubectl", "canary", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Usage: kubectl canary [OPTIONS] COMMAND")
    for command in ("init", "start", "shift", "finish", "abort", "status", "list"):
        assert f"  {command} " in helped.stdout


def test_completion_lives_in_its_own_executable_and_loads_only_what_it_needs(tmp_path):
    # A command's run never loads the completion modules; completing a command name never loads the client.
    loaded = _imports("--help", cwd=tmp_path)
    assert "kubectl_canary.cli.completion" not in loaded and "kubectl_canary.cli.candidates" not in loaded
    proc = subprocess.run([sys.executable, "-X", "importtime", str(BIN / "kubectl_complete-canary"), "sh"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["shift\tSend --weight percent of the traffic to...", ":4"]
    modules = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "kubectl_canary.cli.completion" in modules and _kubernetes(modules) == []
