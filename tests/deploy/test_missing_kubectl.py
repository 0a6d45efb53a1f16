"""Without kubectl the deploy tests cannot render the install; they skip on a laptop and fail in CI
(tests/required.py)."""

from __future__ import annotations

import pytest
from required import REQUIRE

from . import render


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("1", pytest.fail.Exception),
                                              ("", pytest.skip.Exception), ("false", pytest.skip.Exception)])
def test_a_missing_kubectl_skips_only_outside_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(render, "kubectl_binary", lambda: None)
    monkeypatch.delenv(REQUIRE, raising=False)  # `make test` and .ci/run set it; here CI alone decides
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"no kubectl .* on PATH and the e2e tools are not built"):
        render.kustomize(render.DEPLOY)
