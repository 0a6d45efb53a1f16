"""The values a decision is made of: settings, the request context, problems, changes and the verdict.

Mutation is a list of mutators (each edits a deep copy of the object and reports its `Change`s);
validation is a list of checks (each returns `Problem`s). Both see one `Context`: the parsed review,
the lookup and the settings. A `Verdict` is the answer to one request, which `webhook.review`
turns into an AdmissionReview response. New rules (platform policy) are new mutators and checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kubectl_canary.core.kinds import DEPLOYMENT, ROUTETABLE, Obj
from webhook.lookup import Lookup
from webhook.review import Review, response

ENFORCE: Final = "enforce"
WARN: Final = "warn"
ENFORCEMENTS: Final = (ENFORCE, WARN)
# A denial lists every problem, but a RouteTable of a thousand broken routes should not produce a
# message of a thousand lines: the first ones say what is wrong, and the count says how much.
MAX_LISTED: Final = 20


@dataclass(frozen=True)
class Settings:
    """What `canary-webhook serve` (or `review`) was told."""

    default_api_group: str | None = None
    enforcement: str = ENFORCE
    allow_endpoint: bool = False  # benchmark baseline: POST /allow answers allowed without deciding


@dataclass(frozen=True)
class Problem:
    """Something wrong with the request. `reason` labels metrics; `deny=False` makes it a warning."""

    reason: str
    message: str
    deny: bool = True

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

    @property
    def is_routetable_write(self) -> bool:
        return (
            self.review.is_kind(_group(ROUTETABLE.api_version), ROUTETABLE.kind)
            and self.operation in ("CREATE", "UPDATE")
            and isinstance(self.review.obj, dict)
        )

    @property
    def is_deployment_delete(self) -> bool:
        return (
            self.review.is_kind(_group(DEPLOYMENT.api_version), DEPLOYMENT.kind)
            and self.operation == "DELETE"
            and isinstance(self.review.old, dict)
        )

    @property
    def namespace(self) -> str:
        """The object's namespace; a CREATE's object may leave it to the request."""
        meta = (self.review.subject or {}).get("metadata") or {}
        return str(meta.get("namespace") or self.review.namespace or "")

    @property
    def spec_unchanged(self) -> bool:
        """An UPDATE that leaves `spec` as it was (a label, annotation or status write)."""
        obj, old = self.review.obj or {}, self.review.old or {}
        return self.operation == "UPDATE" and obj.get("spec") == old.get("spec")

    def with_namespace(self, obj: Obj) -> Obj:
        """`obj` (shallow copy) with its namespace filled in from the request, for reading only."""
        found = obj.get("metadata")
        meta: Obj = found if isinstance(found, dict) else {}
        if meta.get("namespace") or not self.namespace:
            return obj
        return {**obj, "metadata": {**meta, "namespace": self.namespace}}


Check = Callable[[Context], Iterable[Problem]]
Mutator = Callable[[Context, Obj], Iterable[Change]]
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
    patch: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    changes: tuple[Change, ...] = ()
    mutated: Obj | None = None

    def to_response(self, uid: str) -> Obj:
        return response(uid, self.allowed, self.message, list(self.patch), self.warnings)


def denial_message(problems: Sequence[Problem]) -> str:
    """All problems in one message: `N problems: A; B; ...` (the first MAX_LISTED of them)."""
    messages = [p.message for p in problems]
    if len(messages) == 1:
        return messages[0]
    listed = "; ".join(messages[:MAX_LISTED])
    more = f"; and {len(messages) - MAX_LISTED} more" if len(messages) > MAX_LISTED else ""
    return f"{len(messages)} problems: {listed}{more}"


def unique(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in order, each message once (two routes may share a broken destination label)."""
    seen: set[str] = set()
    found = []
    for problem in problems:
        if problem.message not in seen:
            seen.add(problem.message)
            found.append(problem)
    return found
