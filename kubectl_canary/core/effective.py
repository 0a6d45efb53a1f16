"""The strictest merge of the CanaryPolicies that govern a namespace.

Several policies may govern a namespace; `effective` merges them into the strictest value of each
field, remembering which policy imposes it (the smallest `maxWeightStep`, `requireHeaderPhase` if any
policy requires it, cross-namespace Upstreams only if every policy allows them, every policy's
`prefixes` at once, and the strictest enforcement, Enforce > Warn > Audit). The webhook merges per
enforcement (`levels`), so that each policy's problems keep its own enforcement: a Warn policy's
problem is a warning even when an Enforce policy governs the same namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kubectl_canary.core.policy import AUDIT, ENFORCEMENTS, Policy

T = TypeVar("T")


@dataclass(frozen=True)
class Imposed(Generic[T]):
    """A rule's value and the policies that impose it (several when they agree)."""

    value: T
    policies: tuple[str, ...]


@dataclass(frozen=True)
class Effective:
    """The strictest merge of some policies for one namespace.

    `api_groups` holds every group some policy requires, with its policies: more than one is a
    conflict no RouteTable can satisfy. `prefixes` holds each policy's allowed prefixes (expanded):
    a path must be allowed by every one. `same_namespace_upstreams` is imposed unless every policy
    allows cross-namespace Upstreams.
    """

    namespace: str
    enforcement: str
    policies: tuple[str, ...]
    api_groups: tuple[Imposed[str], ...] = ()
    max_weight_step: Imposed[int] | None = None
    require_header_phase: Imposed[bool] | None = None
    prefixes: tuple[Imposed[tuple[str, ...]], ...] = ()
    same_namespace_upstreams: Imposed[bool] | None = None


def strictest(enforcements: Iterable[str]) -> str:
    """Enforce over Warn over Audit (Audit when there is none)."""
    found = set(enforcements)
    return next((e for e in ENFORCEMENTS if e in found), AUDIT)


def effective(policies: Sequence[Policy], namespace: str) -> Effective | None:
    """The strictest value of each field over `policies` in `namespace` (None when there are none)."""
    if not policies:
        return None
    ordered = sorted(policies, key=lambda p: p.name)
    groups: dict[str, list[str]] = {}
    for policy in ordered:
        if policy.api_group is not None:
            groups.setdefault(policy.api_group, []).append(policy.name)
    steps = [p.max_weight_step for p in ordered if p.max_weight_step is not None]
    smallest = min(steps) if steps else None
    header = tuple(p.name for p in ordered if p.require_header_phase)
    same_namespace = tuple(p.name for p in ordered if not p.allow_cross_namespace_upstreams)
    return Effective(
        namespace=namespace,
        enforcement=strictest(p.enforcement for p in ordered),
        policies=tuple(p.name for p in ordered),
        api_groups=tuple(Imposed(g, tuple(names)) for g, names in sorted(groups.items())),
        max_weight_step=None if smallest is None else Imposed(
            smallest, tuple(p.name for p in ordered if p.max_weight_step == smallest)),
        require_header_phase=Imposed(True, header) if header else None,
        prefixes=tuple(
            Imposed(allowed, (p.name,)) for p in ordered if (allowed := p.allowed_prefixes(namespace)) is not None
        ),
        same_namespace_upstreams=Imposed(True, same_namespace) if same_namespace else None,
    )


def levels(policies: Sequence[Policy], namespace: str) -> tuple[Effective, ...]:
    """One strictest merge per enforcement among `policies`, the strictest enforcement first."""
    found = []
    for enforcement in ENFORCEMENTS:
        merged = effective([p for p in policies if p.enforcement == enforcement], namespace)
        if merged is not None:
            found.append(merged)
    return tuple(found)


