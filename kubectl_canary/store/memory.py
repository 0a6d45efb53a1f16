"""`MemoryStore`: objects in a dict, the swappable fake of the cluster for tests.

It behaves like a small API server: objects are kept by `ObjectRef`, writes land by server-side
apply's rule (`merge_applied`), and it records every call. It can be told to fail a chosen call
(`fail_on=("delete", ObjectRef(...))`, or a set of such pairs; a None ref fails every call of that
verb; a list is named by a ref without a name), so tests can show partial failures and their recovery,
and to return server warnings.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Iterable

from kubectl_canary.core.errors import CanaryError, ClusterError, Modified
from kubectl_canary.core.kinds import Kind, Obj, ObjectRef, labels_of
from kubectl_canary.core.merge import merge_applied
from kubectl_canary.core.selector import matcher

Call = tuple[str, ObjectRef | None]


class MemoryStore:
    """A `Store` over a dict. `calls` lists (verb, ref) in order; `fail_on` and `failure` inject errors."""

    def __init__(
        self,
        objects: Iterable[Obj] = (),
        default_namespace: str = "default",
        fail_on: Call | Iterable[Call] | None = None,
        failure: CanaryError | None = None,
        apply_warnings: Iterable[str] = (),
        live: bool = False,
    ) -> None:
        self.live = live
        self.objects: dict[ObjectRef, Obj] = {}
        for obj in objects:
            self.objects[ObjectRef.of(obj)] = copy.deepcopy(obj)
        self.default_namespace = default_namespace
        self.fail_on: set[Call] = set()
        if isinstance(fail_on, tuple) and len(fail_on) == 2 and isinstance(fail_on[0], str):
            self.fail_on = {(fail_on[0], fail_on[1])}
        elif fail_on is not None:
            self.fail_on = {(str(v), r) for v, r in fail_on}
        self.failure = failure
        self.apply_warnings = builtins.list(apply_warnings)
        self.warnings: builtins.list[str] = []
        self.calls: builtins.list[Call] = []
        # `proxy_get` answers: (pod ref, port, path) -> text, or a function called each time (a live Envoy).
        self.proxied: dict[tuple[ObjectRef, int, str], str | Callable[[], str]] = {}

    def describe(self) -> str:
        return "memory store"

    def wait_for_change(self, namespace: str, service: str, timeout: float) -> bool:
        return False  # nothing to watch: `status --watch` polls (its sleep is the tests' to drive)

    def proxy_get(self, pod: ObjectRef, port: int, path: str) -> str:
        self._call("proxy", pod)
        answer = self.proxied.get((pod, port, path))
        if answer is None:
            raise ClusterError(f"cannot get {path} of pod {pod.namespace}/{pod.name} port {port}: no such pod or port")
        return answer() if callable(answer) else answer

    def _call(self, verb: str, ref: ObjectRef | None) -> None:
        self.calls.append((verb, ref))
        if (verb, ref) in self.fail_on or (verb, None) in self.fail_on:
            raise self.failure or ClusterError(f"injected failure: cannot {verb} {ref or 'objects'}")

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        ref = ObjectRef(kind.kind, namespace if kind.namespaced else "", name)
        self._call("get", ref)
        found = self.objects.get(ref)
        return copy.deepcopy(found) if found is not None else None

    def list(self, kind: Kind, namespace: str | None, label_selector: str | None = None) -> builtins.list[Obj]:
        # A list is recorded as its kind and namespace with no name (a None ref in `fail_on` fails them all).
        self._call("list", ObjectRef(kind.kind, namespace or "", ""))
        wanted = matcher(label_selector)
        return [
            copy.deepcopy(obj)
            for ref, obj in sorted(self.objects.items())
            if ref.kind == kind.kind and (namespace is None or ref.namespace == namespace) and wanted(labels_of(obj))
        ]

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        ref = ObjectRef.of(obj)
        self._call("apply", ref)
        before = self.objects.get(ref)
        # As an API server: a write that names a resourceVersion is conditional on it; each write bumps it.
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        current = (before or {}).get("metadata", {}).get("resourceVersion")
        if wanted and before is not None and str(wanted) != str(current):
            raise Modified(f"cannot apply {ref}: it changed since it was read (resourceVersion {current}, "
                           f"not {wanted})")
        stored = merge_applied(before, obj)
        if current or wanted:
            last = str(current or wanted)
            stored["metadata"]["resourceVersion"] = str(int(last) + 1) if last.isdigit() else last + "+1"
        self.warnings.extend(self.apply_warnings)
        if not dry_run:
            self.objects[ref] = copy.deepcopy(stored)
        return stored

    def delete(self, ref: ObjectRef, dry_run: bool) -> bool:
        self._call("delete", ref)
        if ref not in self.objects:
            return False
        if not dry_run:
            del self.objects[ref]
        return True
