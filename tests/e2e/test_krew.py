"""The krew release, checked by krew itself and run through the real kubectl:

- `plugins/canary.yaml` passes krew's own manifest validation (`validate-krew-manifest`, the check the
  krew-index repository runs on every plugin);
- scripts/release.py builds the single-file plugin (a PEX) and its archive for this machine, and writes
  a manifest for it; `krew install --manifest --archive` accepts both (it checks the sha256 and unpacks
  the archive as it would a download) and installs the plugin into a fresh KREW_ROOT; kubectl, with only
  that directory and python3 on PATH, finds it there and `kubectl canary --help` runs it.

krew is built from its Go module (sigs.k8s.io/krew) into the tools cache by build-tools.sh, as the other
e2e tools are. The release build resolves the plugin's libraries from PyPI (pinned to the installed
ones), so that test is marked `registry`: `make test` runs it before entering the network namespace
where the rest of the e2e run lives (which reaches no registry).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from . import tools

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_manifest_passes_krews_validation() -> None:
    manifest = REPO / "plugins" / "canary.yaml"
    checked = subprocess.run([str(tools.tool("validate-krew-manifest")), "-manifest", str(manifest), "-skip-install"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stderr
    plugin = yaml.safe_load(manifest.read_text())
    [platform] = plugin["spec"]["platforms"]
    # One archive for every OS krew serves that has python3 (the archive holds no native executable).
    os_in = {"key": "os", "operator": "In", "values": ["darwin", "linux"]}
    assert platform["selector"] == {"matchExpressions": [os_in]}
    assert platform["uri"].endswith(f"/{plugin['spec']['version']}/kubectl-canary-{plugin['spec']['version']}.tar.gz")


@pytest.mark.registry
@pytest.mark.timeout(900)
def test_krew_installs_the_release_archive_and_kubectl_runs_it(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    subprocess.run([sys.executable, str(REPO / "scripts" / "release.py"), "--host-only", "--out", str(out),
                    "--manifest", str(out / "canary.yaml")], check=True, timeout=850, capture_output=True)
    [archive] = out.glob("kubectl-canary-v*.tar.gz")
    root = tmp_path / "krew"
    env = {"HOME": str(tmp_path), "KREW_ROOT": str(root), "PATH": "/nonexistent", "PEX_ROOT": str(tmp_path / "pex")}
    installed = subprocess.run(
        [str(tools.tool("krew")), "install", f"--manifest={out / 'canary.yaml'}", f"--archive={archive}"],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr
    assert (root / "bin" / "kubectl-canary").exists()

    # PATH: krew's bin, and a directory with only kubectl and python3 (which the PEX runs on).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(tools.tool("kubectl"))
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (bin_dir / "python3").symlink_to(python)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{bin_dir}"
    listed = subprocess.run(["kubectl", "plugin", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert str(root / "bin" / "kubectl-canary") in listed.stdout, listed.stderr
    helped = subprocess.run(["kubectl", "canary", "--help"], env=env, capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Usage: kubectl canary [OPTIONS] COMMAND")
    for command in ("init", "start", "shift", "finish", "abort", "status", "list"):
        assert f"  {command} " in helped.stdout
