"""The webhook's Prometheus metrics, kept in a registry of their own per app (tests make many apps).

`canary_webhook_requests_total{endpoint,operation,decision}`, a latency histogram per endpoint,
`canary_webhook_mutations_total{reason}`, `canary_webhook_denials_total{reason}` (problems that
denied a request), `canary_webhook_warnings_total{reason}` (problems reported as warnings,
including denials turned into warnings by `--enforcement warn`), and
`canary_webhook_policy_violations_total{policy,field,enforcement}`: every CanaryPolicy rule broken, by
each policy imposing it, whatever its enforcement (Audit violations are counted only here).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from webhook.admission.decision import Verdict
from webhook.admission.policy import PolicyProblem

# Decisions take well under a millisecond for small RouteTables; the upper buckets are for the
# thousand-route ones and for cache misses that ask the API server.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "canary_webhook_requests", "Admission requests answered",
            ["endpoint", "operation", "decision"], registry=self.registry,
        )
        self.latency = Histogram(
            "canary_webhook_request_duration_seconds", "Time to answer an admission request",
            ["endpoint"], buckets=_BUCKETS, registry=self.registry,
        )
        self.mutations = Counter(
            "canary_webhook_mutations", "Changes made by mutation", ["reason"], registry=self.registry
        )
        self.denials = Counter(
            "canary_webhook_denials", "Problems that denied a request", ["reason"], registry=self.registry
        )
        self.warnings = Counter(
            "canary_webhook_warnings", "Problems reported as warnings", ["reason"], registry=self.registry
        )
        self.policy_violations = Counter(
            "canary_webhook_policy_violations", "CanaryPolicy rules broken, per policy imposing the rule",
            ["policy", "field", "enforcement"], registry=self.registry,
        )

    def observe(self, endpoint: str, operation: str, decision: str, seconds: float) -> None:
        self.requests.labels(endpoint, operation, decision).inc()
        self.latency.labels(endpoint).observe(seconds)

    def record(self, verdict: Verdict) -> None:
        for change in verdict.changes:
            self.mutations.labels(change.reason).inc()
        for problem in verdict.problems:
            if isinstance(problem, PolicyProblem):
                for policy in problem.policies:
                    self.policy_violations.labels(policy, problem.field, problem.enforcement).inc()
                if problem.recorded_only:
                    continue
            enforced = problem.deny and verdict.decision == "denied"
            (self.denials if enforced else self.warnings).labels(problem.reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
