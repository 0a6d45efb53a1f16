"""One request's view of a Lookup: `Memo` remembers every answer for one request and keeps its budget for
fresh reads (by a clock; the budget itself is `webhook.admission.lookup.fresh_budget`).

A RouteTable of a thousand routes to one Upstream then costs one lookup, not a thousand, and past
`FRESH_BUDGET` a fresh read raises `webhook.admission.lookup.Late` instead of asking, so the webhook gives its
own answer before kube-apiserver's `timeoutSeconds` (5) gives one for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kubectl_canary.core.kinds import Obj
from webhook.admission.lookup import FRESH_BUDGET, Late, Lookup, PolicySet


class Memo:
    """A Lookup that remembers every answer of another one, for the duration of one request.

    It also keeps the request's budget: a fresh read first asked `budget` seconds (by `clock`) after the
    Memo was made raises `Late` instead of asking (None: no budget, for `review`, which nobody waits on)."""

    def __init__(
        self, inner: Lookup, budget: float | None = FRESH_BUDGET, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.budget = budget
        self._clock = clock
        self._started = clock()
        self._seen: dict[tuple[Any, ...], Any] = {}

    def _ask(self, key: tuple[Any, ...], call: Callable[[], Any], fresh: str | None = None) -> Any:
        """`call()`, once per key; `fresh` says what a fresh read would confirm (None: not a fresh read)."""
        if key not in self._seen:
            if fresh is not None:
                self._within_budget(fresh)
            self._seen[key] = call()
        return self._seen[key]

    def _within_budget(self, what: str) -> None:
        elapsed = self._clock() - self._started
        if self.budget is not None and elapsed >= self.budget:
            raise Late(f"could not confirm {what} within {self.budget:g} s: this request has taken "
                       f"{elapsed:.1f} s already (is the API server slow?)")

    def upstream(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(
            ("upstream", namespace, name, fresh), lambda: self.inner.upstream(namespace, name, fresh),
            f"Upstream {namespace}/{name}" if fresh else None,
        )
        return found

    def deployments(self, namespace: str, fresh: bool = False) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(
            ("deployments", namespace, fresh), lambda: self.inner.deployments(namespace, fresh),
            f"the Deployments in namespace {namespace}" if fresh else None,
        )
        return found

    def namespace(self, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(
            ("namespace", name, fresh), lambda: self.inner.namespace(name, fresh),
            f"Namespace {name}" if fresh else None,
        )
        return found

    def service(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        found: Obj | None = self._ask(
            ("service", namespace, name, fresh), lambda: self.inner.service(namespace, name, fresh),
            f"Service {namespace}/{name}" if fresh else None,
        )
        return found

    def upstreams_for(self, namespace: str) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(("upstreams_for", namespace), lambda: self.inner.upstreams_for(namespace))
        return found

    def routetables_to(self, namespace: str, name: str) -> Sequence[Obj]:
        found: Sequence[Obj] = self._ask(
            ("routetables_to", namespace, name), lambda: self.inner.routetables_to(namespace, name)
        )
        return found

    def policy_set(self) -> PolicySet:
        found: PolicySet = self._ask(("policy_set",), self.inner.policy_set)
        return found

    def ready(self) -> bool:
        return self.inner.ready()
