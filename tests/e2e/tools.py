"""Where the end-to-end tools live: kube-apiserver, kube-controller-manager, kubectl, etcd, helm,
the gloo control plane and podinfo (the application the e2e pods run, with its podcli) built from Go
modules by build-tools.sh, and the Gloo Edge CRDs it fetches.
The versions and paths are defined once, in the script; this module asks it for them
(`build-tools.sh --print-paths`) instead of repeating them, and `ensure_built()` runs the script
when something is missing.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().with_name("build-tools.sh")

# tool name -> key in the --print-paths output
_TOOL_KEYS = {"kube-apiserver": "KUBE_APISERVER", "kubectl": "KUBECTL", "etcd": "ETCD", "helm": "HELM",
              "helm4": "HELM4", "kube-controller-manager": "KUBE_CONTROLLER_MANAGER", "gloo": "GLOO", "krew": "KREW",
              "validate-krew-manifest": "VALIDATE_KREW_MANIFEST", "podinfo": "PODINFO", "podcli": "PODCLI",
              "vegeta": "VEGETA"}


@functools.cache
def build_info() -> dict[str, str]:
    """KEY=VALUE pairs printed by `build-tools.sh --print-paths` (paths and versions)."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-paths"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} --print-paths failed:\n{proc.stderr}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def cache_dir() -> Path:
    """The tools cache, ${KUBECTL_CANARY_CACHE:-~/.cache/kubectl-canary}."""
    return Path(build_info()["CACHE"])


def version(component: str) -> str:
    """Version of a component: "k8s", "etcd", "helm", "gloo", "krew", "podinfo" (the Go module version)
    or "podinfo_app" (what `podinfo --version` says), e.g. version("k8s") == "v1.37.2"."""
    return build_info()[f"{component.upper()}_VERSION"]


def tool(name: str) -> Path:
    """Path of a built binary, one of _TOOL_KEYS, e.g. "kubectl" (may not exist yet)."""
    if name not in _TOOL_KEYS:
        raise KeyError(f"unknown tool {name!r}; known: {', '.join(_TOOL_KEYS)}")
    return Path(build_info()[_TOOL_KEYS[name]])


def gloo_crds_dir() -> Path:
    """Directory holding the Gloo Edge CRD YAML files (gateway.solo.io_v1_RouteTable.yaml, ...)."""
    return Path(build_info()["GLOO_CRDS"])


def podinfo_ui_dir() -> Path:
    """podinfo's `ui` directory (vue.html), which its image keeps next to ./podinfo in its WORKDIR."""
    return Path(build_info()["PODINFO_UI"])


def missing() -> list[Path]:
    """The tools and CRD files that are not built yet."""
    wanted = [tool(name) for name in _TOOL_KEYS]
    wanted.append(gloo_crds_dir() / "gateway.solo.io_v1_RouteTable.yaml")
    wanted.append(podinfo_ui_dir() / "vue.html")
    return [path for path in wanted if not path.exists()]


def ensure_built() -> None:
    """Run build-tools.sh if anything is missing; its progress goes straight to our stdout/stderr."""
    if not missing():
        return
    # No capture: a cold build takes minutes and the user should see it progress.
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    still = missing()
    if still:
        raise RuntimeError(f"build-tools.sh finished but these are missing: {still}")
