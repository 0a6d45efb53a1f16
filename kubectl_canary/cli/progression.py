"""What `shift --step` was asked to do (`Progression`): the step and the gates, from the flags first,
then the analysis defaults of the governing CanaryPolicies, then the built-in ones; a policy's
`maxWeightStep` caps the step. `cli.progressive` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_canary.core.analysis_policy import AnalysisDefaults
from kubectl_canary.core.routes import RouteState
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.core.verdict import Gates
from kubectl_canary.load import Load
from kubectl_canary.store.proxies import Gateway


@dataclass(frozen=True)
class Progression:
    """What `shift --step` was asked to do, with the policy's defaults and the built-in ones applied."""

    target: int
    step: int
    interval: float
    gates: Gates
    max_inconclusive: int
    on_inconclusive: str
    finish: bool
    gateway: Gateway
    route_timeout: float
    load: Callable[[RouteState, Snapshot], Load] | None = None


def settle(flags: dict[str, Any], policy: AnalysisDefaults, max_step: int | None) -> tuple[int, list[str]]:
    """The step to take (never past a policy's maxWeightStep) and what to tell the user about it."""
    step, said = int(flags["step"]), []
    if max_step is not None and step > max_step:
        said.append(f"--step {step} is more than the CanaryPolicy's maxWeightStep {max_step}: stepping by {max_step}")
        step = max_step
    return step, said


def gates_of(flags: dict[str, Any], policy: AnalysisDefaults) -> Gates:
    """Flags first, then the governing policies' analysis section, then `Gates()`'s defaults."""
    base = Gates()

    def pick(flag: str, attr: str) -> Any:
        value = flags.get(flag)
        if value is None:
            value = getattr(policy, attr)
        return getattr(base, attr) if value is None or value == () else value

    return Gates(pick("max_error_rate", "max_error_rate"), pick("error_rate_margin", "error_rate_margin"),
                 int(pick("min_requests", "min_requests")), tuple(pick("max_latency", "max_latency")),
                 pick("latency_ratio", "latency_ratio"))
