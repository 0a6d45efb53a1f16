"""tests/required.py: a missing tool skips on a developer's machine and fails where every tool must be
there (KUBECTL_CANARY_REQUIRE_TOOLS, which .ci/run and `make test` export, else CI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped
from required import REQUIRE, missing_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({}, Skipped),
        ({"CI": "true"}, Failed),
        ({"CI": "false"}, Skipped),
        ({REQUIRE: "1"}, Failed),
        ({REQUIRE: "1", "CI": "false"}, Failed),
        ({REQUIRE: "0", "CI": "true"}, Skipped),
    ],
)
def test_a_missing_tool_skips_or_fails(monkeypatch, env, outcome):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(outcome, match="no frobnicator"):
        missing_tool("no frobnicator on PATH")


def test_a_value_that_is_neither_is_named(monkeypatch):
    monkeypatch.setenv(REQUIRE, "sometimes")
    with pytest.raises(pytest.UsageError, match=f"{REQUIRE}='sometimes'"):
        missing_tool("no frobnicator on PATH")


def test_make_test_requires_the_tools_it_built():
    # What `make test` (which .ci/run runs) hands the tests, from make's own database of the Makefile.
    proc = subprocess.run(["make", "-pn", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert f"test: {REQUIRE} = 1" in proc.stdout.replace("?=", "=")

