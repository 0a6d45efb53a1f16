"""The decisions as the tests make them: mutation and validation with the registry's rules (webhook.admission.rules),
the same set `canary-webhook serve` and `review` use."""

from __future__ import annotations

from webhook.admission import mutation, validation
from webhook.admission.decision import Context, Verdict
from webhook.admission.rules import RULES


def mutate(ctx: Context) -> Verdict:
    return mutation.mutate(ctx, RULES.mutators.values())


def validate(ctx: Context) -> Verdict:
    return validation.validate(ctx, RULES.checks.values())
