"""What a test does when a tool it needs is missing: outside CI it skips (saying which tool and how to
get it); in CI (`CI=true`, as GitHub Actions, GitLab and most runners set it) it fails, so a runner
without the tool cannot pass by skipping the tests that need it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tool(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing tool fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)
