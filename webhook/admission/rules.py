"""The registry of rules: every mutator and check the webhook runs, each under the name that finds it.

A check is named by what it guards; a platform-policy check by the CanaryPolicy field it enforces
(`maxWeightStep` is `webhook.admission.policy.check_max_weight_step`), so a reader goes from a name in a
denial, a log line or the CRD to its code in one hop. `RULES` is the one set: `canary-webhook serve`,
`canary-webhook review` and the tests all decide with it; a test that wants other rules builds its own
`Rules` in plain sight, and no function has a smaller default set that would silently skip policy.
Mutators run in the order given here (the apiGroup label first, since normalising weights depends on
whether the label changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kubectl_canary.core.policy import API_GROUP, CROSS_NAMESPACE, MAX_WEIGHT_STEP, PREFIXES, REQUIRE_HEADER_PHASE
from webhook.admission import deletion, mutation, policy, validation
from webhook.admission.decision import Check, Mutator


@dataclass(frozen=True)
class Rules:
    """Mutators and checks by name (read-only mappings, in the order they run)."""

    mutators: Mapping[str, Mutator] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mutators", MappingProxyType(dict(self.mutators)))
        object.__setattr__(self, "checks", MappingProxyType(dict(self.checks)))

    def with_checks(self, **checks: Check) -> Rules:
        """These rules and `checks` (a name given again replaces its check)."""
        return Rules(self.mutators, {**self.checks, **checks})


# The group of a policy first, then the Namespace's label, then `--default-api-group`.
API_GROUP_SOURCES: tuple[mutation.ApiGroupSource, ...] = (policy.policy_api_group, *mutation.API_GROUP_SOURCES)

RULES = Rules(
    mutators={
        "apiGroupLabel": mutation.api_group_mutator(API_GROUP_SOURCES),
        "weightsTotal100": mutation.mutate_weights,
    },
    checks={
        # The floor: what every RouteTable, Upstream and Deployment DELETE must satisfy.
        "destinationsServed": validation.check_destinations,
        "weightsTotal100": validation.check_weights,
        "upstreamServicePort": validation.check_upstream,
        "lastDeploymentServing": deletion.check_deployment_delete,
        # Platform policy: one check per CanaryPolicy field, under the field's name.
        "policyReadable": policy.check_readable,
        API_GROUP: policy.check_api_group,
        MAX_WEIGHT_STEP: policy.check_max_weight_step,
        REQUIRE_HEADER_PHASE: policy.check_header_phase,
        PREFIXES: policy.check_prefixes,
        CROSS_NAMESPACE: policy.check_upstream_namespaces,
    },
)
