"""What a test does when a tool it needs is missing: on a developer's machine it skips (saying which tool
and how to get it); in a run that must have every tool it fails, so a runner without the tool cannot pass
by skipping the tests that need it.

A run must have every tool when KUBECTL_CANARY_REQUIRE_TOOLS=1, which `.ci/run` and `make test` (both
build the tools first) export themselves, so it does not depend on what a CI runner happens to set. Without
that variable, `CI=true` (as GitHub Actions, GitLab and most runners set it) means the same;
KUBECTL_CANARY_REQUIRE_TOOLS=0 lets a developer skip even then.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE = "KUBECTL_CANARY_REQUIRE_TOOLS"
TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no", "")


def _flag(name: str) -> bool | None:
    """The variable as a boolean; None when unset. A value that is neither is a mistake worth naming."""
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise pytest.UsageError(f"{name}={os.environ[name]!r}: expected one of {', '.join(TRUE + FALSE[:-1])}")


def tools_required() -> bool:
    """Whether a missing tool fails the run: KUBECTL_CANARY_REQUIRE_TOOLS if set, else CI."""
    required = _flag(REQUIRE)
    if required is not None:
        return required
    return os.environ.get("CI", "").strip().lower() in TRUE


def missing_tool(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when the run must have every tool."""
    if tools_required():
        pytest.fail(f"{reason} ({REQUIRE}=1 or CI=true: a missing tool fails the run instead of skipping)",
                    pytrace=False)
    pytest.skip(f"{reason} (skipped: set {REQUIRE}=1 to fail instead)")


def built_tool(name: str) -> str:
    """The path of a tool the e2e build makes (build-tools.sh, in $KUBECTL_CANARY_CACHE), e.g. the kubectl
    whose behaviour a differential test compares with ours; a missing one is a missing tool."""
    # tests/ is not a package: pytest puts tests/ on sys.path, so the e2e package imports as `e2e`.
    from e2e import tools

    path = tools.tool(name)
    if not path.exists():
        missing_tool(f"{name} is not built at {path} (make tools)")
    return str(path)
