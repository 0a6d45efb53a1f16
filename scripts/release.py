"""Builds the krew release of `kubectl canary`: one single-file build of the plugin, its archive, and the
krew manifest `plugins/canary.yaml` that names the archive by URL and sha256.

The single file is a PEX (a zipapp with a bootstrap, built by the `pex` tool): the plugin and every
library it imports, pinned to the versions installed where this runs (the ones the tests ran with).
The kubernetes client needs `pydantic-core`, a compiled extension, so a pure zipapp cannot run it; the
PEX carries that wheel for each target (Linux x86_64/aarch64 with glibc 2.28+, macOS 13+ x86_64/arm64;
CPython 3.11-3.13) and picks the matching one at run time, so one archive serves every platform the
krew manifest lists.
The asyncio half of the kubernetes client (aiohttp and friends) is left out: the plugin never loads it.
Archive and manifest are byte-for-byte reproducible (fixed times and owners).

    .venv/bin/python scripts/release.py                 # every target: dist/ and plugins/canary.yaml
    .venv/bin/python scripts/release.py --host-only --out DIR --manifest DIR/canary.yaml   # for tests
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from importlib.metadata import distribution, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
NAME = "kubectl-canary"
VERSION = f"v{version(NAME)}"
URL_BASE = "https://github.com/kubectl-canary/kubectl-canary/releases/download"
# What the plugin imports (pyproject's dependencies, less the webhook's Flask, gunicorn, cryptography, prometheus).
PLUGIN_REQUIREMENTS = ("click", "pyyaml", "jsonpatch", "kubernetes", "durationpy", "ruamel.yaml")
UNUSED = ("aiohttp", "aiohttp-retry")  # the kubernetes client's asyncio variant
# (sys_platform, platform_machine) of each target operating system and CPU, for CPython 3.11 to 3.13.
TARGETS = [("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "x86_64"), ("darwin", "arm64")]
PYTHONS = [(3, 11), (3, 12), (3, 13)]
GLIBC = 28  # manylinux_2_28 and older wheels: every Linux with glibc 2.28 (2018) or later
MACOS = (13, 0)  # macOS 13 (2022) or later: PyYAML's x86_64 wheels need more than 10.12
OS_SELECTOR = {"matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin", "linux"]}]}


def pinned() -> list[str]:
    """The plugin's runtime requirements, closed over their dependencies, pinned to the installed versions."""
    versions: dict[str, str] = {}
    todo = list(PLUGIN_REQUIREMENTS)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in versions or name in UNUSED:
            continue
        dist = distribution(name)
        versions[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{name}=={v}" for name, v in sorted(versions.items())]


def _platform_tags(system: str, machine: str) -> list[str]:
    from packaging import tags

    if system == "darwin":
        return list(tags.mac_platforms(MACOS, machine))
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    found = []
    for minor in range(GLIBC, 4, -1):
        found.append(f"manylinux_2_{minor}_{machine}")
        if minor in legacy:
            found.append(f"{legacy[minor]}_{machine}")
    return [*found, f"linux_{machine}"]


def complete_platform(system: str, machine: str, python: tuple[int, int]) -> dict[str, object]:
    """A pex "complete platform": the environment markers and wheel tags of a target interpreter, so
    that pex resolves for it here (abbreviated platforms cannot evaluate `python_full_version`)."""
    from packaging import tags

    dotted = ".".join(map(str, python))
    abi = f"cp{python[0]}{python[1]}"
    platforms = _platform_tags(system, machine)
    compatible = [str(t) for t in tags.cpython_tags(python, [abi], platforms)]
    compatible += [str(t) for t in tags.compatible_tags(python, f"cp{python[0]}{python[1]}", platforms)]
    return {
        "marker_environment": {
            "implementation_name": "cpython", "implementation_version": f"{dotted}.0",
            "os_name": "posix", "platform_machine": machine, "platform_python_implementation": "CPython",
            "platform_release": "", "platform_system": "Darwin" if system == "darwin" else "Linux",
            "platform_version": "", "python_full_version": f"{dotted}.0", "python_version": dotted,
            "sys_platform": system,
        },
        "compatible_tags": compatible,
    }


def build_pex(out: Path, host_only: bool) -> Path:
    target = out / NAME
    platforms = []
    if not host_only:
        for system, machine in TARGETS:
            for python in PYTHONS:
                spec = out / f"platform-{system}-{machine}-{python[0]}{python[1]}.json"
                spec.write_text(json.dumps(complete_platform(system, machine, python)))
                platforms += ["--complete-platform", str(spec)]
    subprocess.run([
        sys.executable, "-m", "pex", str(ROOT), *pinned(), *platforms,
        # Exactly the pinned closure: not the project's own dependencies, which include the webhook's.
        "--intransitive", "--no-build",
        "--console-script", NAME, "--output-file", str(target),
        # A venv in PEX_ROOT on first run, so later runs start without unpacking anything.
        "--venv", "--python-shebang", "/usr/bin/env python3", "--no-emit-warnings",
    ], check=True)
    return target


def archive(binary: Path, out: Path) -> Path:
    """`kubectl-canary-VERSION.tar.gz` holding the executable, with fixed times, owners and modes."""
    path = out / f"{NAME}-{VERSION}.tar.gz"
    data = binary.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(NAME)
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
    return path


def manifest(archive_path: Path, url_base: str) -> str:
    """The krew v1alpha2 Plugin manifest for the archive (one platform entry: every OS with python3)."""
    import yaml

    sha256 = hashlib.sha256(archive_path.read_bytes()).hexdigest()
    plugin = {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "canary"},
        "spec": {
            "version": VERSION,
            "homepage": "https://github.com/kubectl-canary/kubectl-canary",
            "shortDescription": "Two-phase canary releases on Gloo Edge",
            "description": (
                "Runs canary releases for services routed by Gloo Edge RouteTables: header-matched\n"
                "traffic to the new version first, then weighted shifts, then finish or abort.\n"
                "State lives in the RouteTable and Deployments, so kubectl and GitOps see it too.\n"
            ),
            "caveats": "Needs python3 (3.11 or later) on PATH. Shell completion: kubectl_complete-canary\n"
                       "(pip install kubectl-canary) on PATH.\n",
            "platforms": [{"selector": OS_SELECTOR, "uri": f"{url_base}/{VERSION}/{archive_path.name}",
                           "sha256": sha256, "bin": NAME, "files": [{"from": NAME, "to": "."}]}],
        },
    }
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:  # multi-line texts as `|` blocks (krew-index style)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return yaml.dump(plugin, Dumper=Dumper, sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--manifest", type=Path, default=ROOT / "plugins" / "canary.yaml")
    parser.add_argument("--url-base", default=URL_BASE)
    parser.add_argument("--host-only", action="store_true", help="Only this machine's platform (fast; for tests).")
    parser.add_argument("--manifest-for", type=Path, metavar="ARCHIVE", help="Only write the manifest for ARCHIVE.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.manifest_for or archive(build_pex(args.out, args.host_only), args.out)
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    args.manifest.write_text(manifest(path, args.url_base))
    print(f"{path}\n{args.manifest}")


if __name__ == "__main__":
    main()
