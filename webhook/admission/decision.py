"""The values a decision is made of: settings, the request context, problems, changes and the verdict.

Mutation is a list of mutators (each records its edits in the request's `Draft` and reports its `Change`s);
validation is a list of checks (each returns `Problem`s). Both see one `Context`: the parsed review,
the lookup and the settings. A `Verdict` is the answer to one request, which `webhook.admission.review`
turns into an AdmissionReview response. New rules (platform policy) are new mutators and checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Final

from kubectl_canary.core import names
from kubectl_canary.core.effective import Effective, levels
from kubectl_canary.core.kinds import DEPLOYMENT, ROUTETABLE, UPSTREAM, Obj, labels_of
from kubectl_canary.core.policy import Policy, Unreadable, governing
from kubectl_canary.core.traffic import Routing
from webhook.admission import limits
from webhook.admission.draft import Draft
from webhook.admission.lookup import Lookup, find_namespace, fresh_budget
from webhook.admission.review import Review, response

ENFORCE: Final = "enforce"
WARN: Final = "warn"
ENFORCEMENTS: Final = (ENFORCE, WARN)
FAIL: Final = "Fail"
IGNORE: Final = "Ignore"
FAILURE_POLICIES: Final = (FAIL, IGNORE)
# A denial lists every problem, but a RouteTable of a thousand broken routes should not produce a
# message of a thousand lines: the first ones say what is wrong, and the count says how much.
MAX_LISTED: Final = limits.MAX_LISTED


@dataclass(frozen=True)
class Settings:
    """What `canary-webhook serve` (or `review`) was told."""

    default_api_group: str | None = None
    enforcement: str = ENFORCE
    # What the webhook configurations say (the Helm chart passes its values): how the webhook answers when
    # it cannot decide in time, and how long kube-apiserver waits for it.
    routetables_failure: str = FAIL
    deployments_failure: str = IGNORE
    upstreams_failure: str = IGNORE
    timeout_seconds: int = 5

    @property
    def fresh_budget(self) -> float:
        """Seconds of a request after which no fresh read starts (`webhook.cluster.memo.fresh_budget`)."""
        return fresh_budget(self.timeout_seconds)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the request. `reason` labels metrics; `deny=False` makes it a warning."""

    reason: str
    message: str
    deny: bool = True
    # What the problem says apart from which route has it: problems with the same reason and `like` are
    # one problem of several routes, and messages name the first and count the rest.
    like: str = ""

    def as_warning(self, prefix: str = "") -> Problem:
        return replace(self, message=prefix + self.message, deny=False)

    @property
    def recorded_only(self) -> bool:
        """True for a problem that is only logged and counted, never shown (an Audit policy's)."""
        return False


@dataclass(frozen=True)
class Change:
    """A change a mutator made: `reason` labels metrics, `warning` tells the user."""

    reason: str
    warning: str


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class Context:
    """One request as the mutators and checks see it."""

    review: Review
    lookup: Lookup
    settings: Settings = field(default_factory=Settings)

    @property
    def operation(self) -> str:
        return self.review.operation

    @cached_property
    def is_routetable_write(self) -> bool:
        return (
            self.review.is_kind(_group(ROUTETABLE.api_version), ROUTETABLE.kind)
            and self.operation in ("CREATE", "UPDATE")
            and isinstance(self.review.obj, dict)
        )

    @cached_property
    def is_upstream_write(self) -> bool:
        return (
            self.review.is_kind(_group(UPSTREAM.api_version), UPSTREAM.kind)
            and self.operation in ("CREATE", "UPDATE")
            and isinstance(self.review.obj, dict)
        )

    @cached_property
    def is_deployment_delete(self) -> bool:
        return (
            self.review.is_kind(_group(DEPLOYMENT.api_version), DEPLOYMENT.kind)
            and self.operation == "DELETE"
            and isinstance(self.review.old, dict)
        )

    @property
    def namespace(self) -> str:
        """The object's namespace; a CREATE's object may leave it to the request."""
        meta = (self.review.subject or {}).get("metadata")
        found = meta.get("namespace") if isinstance(meta, dict) else None
        return str(found or self.review.namespace or "")

    @cached_property
    def too_deep(self) -> Problem:
        """The denial for an object that a rule could not judge because comparing it recursed past Python's
        limit (asked only then: walking every request's object to measure its depth would cost each request
        as much as parsing it). Names where it nests more than `limits.MAX_DEPTH` levels deep."""
        for which, obj in (("object", self.review.obj), ("oldObject", self.review.old)):
            where = limits.too_deep(obj) if obj is not None else None
            if where is not None:
                return Problem("too-deep", f"{which} nests more than {limits.MAX_DEPTH} levels deep (at {where}); "
                                           "canary-webhook cannot judge it: flatten that field")
        return Problem("too-deep", "the object nests too deeply for canary-webhook to judge it: flatten it")

    # Computed once per request (mutators and checks ask for them again and again); a frozen dataclass
    # without slots still has the instance __dict__ that cached_property writes to.
    @cached_property
    def new(self) -> Routing | None:
        """The RouteTable being written, read once for every rule (namespace filled in from the request)."""
        obj = self.review.obj
        return Routing(self.with_namespace(obj)) if self.is_routetable_write and obj is not None else None

    @cached_property
    def old(self) -> Routing | None:
        """The RouteTable an UPDATE replaces, read with the request's namespace too, so that a reference
        without a namespace resolves alike in both."""
        old = self.review.old
        if self.new is None or self.operation != "UPDATE" or not isinstance(old, dict):
            return None
        return Routing(self.with_namespace(old))

    @cached_property
    def too_many_routes(self) -> Problem | None:
        """A denial for a RouteTable with more routes than the rules judge in time (`limits.MAX_ROUTES`)."""
        spec = (self.review.obj or {}).get("spec") if self.is_routetable_write else None
        found = spec.get("routes") if isinstance(spec, dict) else None
        if not isinstance(found, list) or len(found) <= limits.MAX_ROUTES:
            return None
        return Problem("too-many-routes",
                       f"{len(found):,} routes are more than the {limits.MAX_ROUTES:,} canary-webhook judges in one "
                       "RouteTable within its timeout: split them into several RouteTables with the same apiGroup "
                       "label (the VirtualService delegates to all of them)")

    @cached_property
    def spec_unchanged(self) -> bool:
        """An UPDATE that leaves `spec` as it was (a label, annotation or status write)."""
        obj, old = self.review.obj or {}, self.review.old or {}
        return self.operation == "UPDATE" and obj.get("spec") == old.get("spec")

    @cached_property
    def routing_unchanged(self) -> bool:
        """An UPDATE that leaves `spec` and the `apiGroup` label as they were. Adding the label where there was
        none is a change too: it is what makes a VirtualService serve the routes."""
        if not self.spec_unchanged:
            return False
        before, after = (labels_of(o or {}).get(names.API_GROUP) for o in (self.review.old, self.review.obj))
        return before == after

    @cached_property
    def policies(self) -> tuple[list[Policy], list[Unreadable]]:
        """The CanaryPolicies the lookup holds, compiled when they were delivered: (readable, unreadable)."""
        return self.lookup.policy_set()

    @cached_property
    def policy_levels(self) -> tuple[Effective, ...]:
        """The policies that govern the request's namespace, merged per enforcement (strictest first)."""
        policies = self.policies[0]
        if not policies or not self.namespace:
            return ()
        # The Namespace is only needed for its labels: skip the lookup when no policy selects by them.
        needs_labels = any(p.namespace_selector is not None for p in policies)
        namespace = find_namespace(self.lookup, self.namespace) if needs_labels else None
        return levels(governing(policies, self.namespace, namespace), self.namespace)

    def with_namespace(self, obj: Obj) -> Obj:
        """`obj` (shallow copy) with its namespace filled in from the request, for reading only."""
        found = obj.get("metadata")
        meta: Obj = found if isinstance(found, dict) else {}
        if meta.get("namespace") or not self.namespace:
            return obj
        return {**obj, "metadata": {**meta, "namespace": self.namespace}}


Check = Callable[[Context], Iterable[Problem]]
# A mutator records its edits in the request's Draft (webhook.admission.draft) and reports them as Changes.
Mutator = Callable[[Context, Draft], Iterable[Change]]
# `enforce` or `warn` for one request.
Enforcement = Callable[[Context], str]


@dataclass(frozen=True)
class Verdict:
    """The answer to one request, and what metrics and logs need to know about it.

    `decision` is `allowed`, `patched` (allowed with a patch), `warned` (problems that would deny,
    turned into warnings by `--enforcement warn`) or `denied`.
    """

    allowed: bool
    decision: str
    message: str | None = None
    warnings: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    changes: tuple[Change, ...] = ()
    draft: Draft | None = None  # the mutators' edits (mutation only; done with once the verdict is made)

    @property
    def patch(self) -> tuple[dict[str, Any], ...]:
        """The JSON Patch to answer with (the draft's operations; none without a draft)."""
        return self.draft.operations if self.draft is not None else ()

    @property
    def mutated(self) -> Obj | None:
        """The object with the patch applied (a copy when there is one; asked only by `review` and tests)."""
        return self.draft.mutated() if self.draft is not None else None

    def to_response(self, uid: str) -> Obj:
        return response(uid, self.allowed, self.message, list(self.patch), self.warnings)


def grouped(problems: Sequence[Problem]) -> list[str]:
    """The problems' messages in order, those of one kind on several routes once: the first route's message
    and `(and 9,990 more routes like it)`."""
    groups: dict[tuple[str, str] | int, list[Problem]] = {}
    for index, problem in enumerate(problems):
        groups.setdefault((problem.reason, problem.like) if problem.like else index, []).append(problem)
    found = []
    for members in groups.values():
        more = len(members) - 1
        found.append(members[0].message + (f" (and {more:,} more route{'s' if more > 1 else ''} like it)"
                                           if more else ""))
    return found


def denial_message(problems: Sequence[Problem]) -> str:
    """All problems in one message: `N problems: A; B (and 9,990 more routes like it); ...; and 980 more` (the
    first MAX_LISTED kinds, each cut to `limits.MAX_MESSAGE` characters, so the message is bounded whatever
    the object)."""
    kinds = grouped(problems)
    messages = [limits.clip(m) for m in kinds[:MAX_LISTED]]
    if len(problems) == 1:
        return messages[0]
    more = len(kinds) - MAX_LISTED
    return f"{len(problems):,} problems: " + "; ".join(messages + ([f"and {more:,} more"] if more > 0 else []))


def unique(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in order, each message once (two routes may share a broken destination label)."""
    seen: set[str] = set()
    found = []
    for problem in problems:
        if problem.message not in seen:
            seen.add(problem.message)
            found.append(problem)
    return found
