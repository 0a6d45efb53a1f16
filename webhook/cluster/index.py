"""What a watch cache keeps besides its objects, kept up to date from its informer's events (`Follower`s).

The kubernetes Python client's informer keeps one `ObjectCache` keyed by namespace/name and offers no
secondary index (client-go has `cache.Indexer`), so `Index` is ours: it finds a cache's objects by values
computed from each, `values(obj)` (a RouteTable under every Upstream its destinations name, a Deployment
under its namespace). `add(key, obj)` files the object under its cache key anew, dropping the values it
had before, so an UPDATE that changes them moves it; `remove(key)` drops it; `get(value)` answers a copy.
`CompiledPolicies` holds the cached CanaryPolicies as `read_policies` reads them, each read once, when it
is delivered. The informer's thread writes while request threads read, so each has a lock of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, Protocol, TypeVar

from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.policy import read_policies
from webhook.admission.lookup import PolicySet

V = TypeVar("V", bound=Hashable)


class Index(Generic[V]):
    """Objects by index value (see the module docstring). `values` must not fail on any object."""

    def __init__(self, values: Callable[[Obj], Iterable[V]]) -> None:
        self._values = values
        self._lock = threading.Lock()
        self._filed: dict[str, frozenset[V]] = {}  # cache key -> the values it is filed under
        self._by_value: dict[V, dict[str, Obj]] = {}  # value -> cache key -> object

    def add(self, key: str, obj: Obj) -> None:
        """File `obj` under its values, replacing whatever `key` was filed as before."""
        # Outside the lock: walking a RouteTable of many routes must not hold up readers.
        values = frozenset(self._values(obj))
        with self._lock:
            self._drop(key, keep=values)
            for value in values:
                self._by_value.setdefault(value, {})[key] = obj
            if values:
                self._filed[key] = values

    def remove(self, key: str) -> None:
        """Forget `key` (nothing happens when it is not filed)."""
        with self._lock:
            self._drop(key, keep=frozenset())

    def get(self, value: V) -> list[Obj]:
        """The objects filed under `value`, in the order they were first filed there."""
        with self._lock:
            found = self._by_value.get(value)
            return list(found.values()) if found else []

    def _drop(self, key: str, keep: frozenset[V]) -> None:
        for value in self._filed.pop(key, frozenset()) - keep:
            found = self._by_value[value]
            del found[key]
            if not found:
                del self._by_value[value]


class Follower(Protocol):
    """What a Watched keeps up to date from its informer's events: an `Index`, the compiled policies."""

    def add(self, key: str, obj: Obj) -> None: ...

    def remove(self, key: str) -> None: ...


class CompiledPolicies:
    """The cached CanaryPolicies as `read_policies` reads them, each read once, when the informer delivers it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[str, PolicySet] = {}
        self.current: PolicySet = ([], [])

    def add(self, key: str, obj: Obj) -> None:
        found = read_policies([obj])
        with self._lock:
            self._read[key] = found
            self._publish()

    def remove(self, key: str) -> None:
        with self._lock:
            if self._read.pop(key, None) is not None:
                self._publish()

    def _publish(self) -> None:
        # A new pair every time, never edited in place: a request holding the previous one reads a whole set.
        readable = sorted((p for ok, _ in self._read.values() for p in ok), key=lambda p: p.name)
        self.current = (readable, [u for _, bad in self._read.values() for u in bad])
