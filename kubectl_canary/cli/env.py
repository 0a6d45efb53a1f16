"""click's context object and the store the flags select.

`Env` is click's context object: tests replace `store_factory` (for a `MemoryStore`) and `sleep` (to
drive `status --watch`). The default factory opens a `DirectoryStore` for `--files` and otherwise a
`ClusterStore`, importing the cluster module (and so the kubernetes client) only then. `store_options`
turns a command's parsed flags (`--files`, `-n`, kubectl's connection flags) into the `StoreOptions`
the factory is given; the commands (`cli.options`) and shell completion (`cli.candidates`) share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_canary.core.errors import UsageError
from kubectl_canary.store import Store
from kubectl_canary.store.kubeconfig import Connection


@dataclass(frozen=True)
class StoreOptions:
    """What selects a store: a directory, or kubectl's connection flags; and how a cluster store writes."""

    files: Path | None = None
    connection: Connection = field(default_factory=Connection)
    namespace: str | None = None
    create: bool = False
    force_conflicts: bool = False


def open_store(options: StoreOptions) -> Store:
    """The store the flags name: `--files DIR`, else the cluster of the kubeconfig context."""
    if options.files is not None:
        from kubectl_canary.store.directory import DirectoryStore

        return DirectoryStore(options.files, options.namespace or "default", create=options.create)
    from kubectl_canary.store.cluster import ClusterStore

    return ClusterStore(options.connection, force_conflicts=options.force_conflicts)


@dataclass
class Env:
    """click's context object: how to open a store, and how `--watch` waits between two reads."""

    store_factory: Callable[[StoreOptions], Store] = open_store
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    watch_interval: float = 2.0
    # A watch that sees no change still ends after this long, so what it does not cover (policies) refreshes.
    watch_timeout: float = 30.0
    # How `shift --load` sends one request (url, headers) -> status code; None: urllib (tests pass a fake).
    http_send: Callable[[str, dict[str, str]], int] | None = None

    def wait(self, store: Store, namespace: str, service: str, limit: float | None = None) -> None:
        """Until the store reports a change (a cluster's watch API); else, or if the watch failed, one poll
        interval; never longer than `limit` seconds (what is left of `status --timeout`)."""
        watch, poll = self.watch_timeout, self.watch_interval
        if limit is not None:
            watch, poll = max(0.0, min(watch, limit)), max(0.0, min(poll, limit))
        if not store.wait_for_change(namespace, service, watch):
            self.sleep(poll)


def store_options(
    namespace: str | None = None,
    files: Path | None = None,
    create: bool = False,
    force_conflicts: bool = False,
    **flags: Any,
) -> StoreOptions:
    """The `StoreOptions` that a command's parsed flags name (UsageError for --files with a connection flag)."""
    connection = Connection(**{**flags, "as_groups": tuple(flags.get("as_groups") or ())})
    if files is not None and connection.given():
        raise UsageError(f"--files reads and writes a directory; it cannot be combined with "
                         f"{', '.join(connection.given())}")
    return StoreOptions(files, connection, namespace, create, force_conflicts)
