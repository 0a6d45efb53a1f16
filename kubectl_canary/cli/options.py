"""The flags every command takes (SPEC 2), and the context object that opens the store.

`Env` is click's context object: tests replace `store_factory` (for a `MemoryStore`) and `sleep` (to
drive `status --watch`). The default factory opens a `DirectoryStore` for `--files` and otherwise a
`ClusterStore`, importing the cluster module (and so the kubernetes client) only then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kubectl_canary.core.errors import UsageError
from kubectl_canary.store import DryRun, Store


@dataclass(frozen=True)
class StoreOptions:
    """What selects a store: a directory, or a kubeconfig and context."""

    files: Path | None = None
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    create: bool = False


def open_store(options: StoreOptions) -> Store:
    """The store the flags name: `--files DIR`, else the cluster of the kubeconfig context."""
    if options.files is not None:
        from kubectl_canary.store.directory import DirectoryStore

        return DirectoryStore(options.files, options.namespace or "default", create=options.create)
    from kubectl_canary.store.cluster import ClusterStore

    return ClusterStore(options.kubeconfig, options.context)


@dataclass
class Env:
    """click's context object: how to open a store, and how `--watch` waits between polls."""

    store_factory: Callable[[StoreOptions], Store] = open_store
    sleep: Callable[[float], None] = time.sleep
    watch_interval: float = 2.0


@dataclass(frozen=True)
class Invocation:
    """A command's resolved common flags: its store and namespace, dry-run mode and output format."""

    store: Store
    namespace: str
    dry_run: DryRun
    output: str | None


def common_options(outputs: tuple[str, ...] = ("yaml", "json")) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add `-n`, `--context`, `--kubeconfig`, `--files`, `--dry-run` and `-o` to a command."""
    options = [
        click.option("-n", "--namespace", help="Namespace of the service (default: the context's, else default)."),
        click.option("--context", help="The kubeconfig context to use (as kubectl)."),
        click.option("--kubeconfig", help="Path to the kubeconfig file (as kubectl; default $KUBECONFIG)."),
        click.option(
            "--files",
            type=click.Path(file_okay=False, path_type=Path),
            help="Read and write YAML manifests in DIR instead of a cluster.",
        ),
        click.option(
            "--dry-run",
            type=click.Choice(["none", "client", "server"]),
            default="none",
            show_default=True,
            help="client: print what would change, touch nothing; server: let the cluster check it, persist nothing.",
        ),
        click.option(
            "-o", "--output", type=click.Choice(list(outputs)), help="Print the objects (or the status) in this format."
        ),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def invocation(
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    files: Path | None,
    dry_run: str,
    output: str | None,
    create: bool = False,
) -> Invocation:
    """Open the store the flags select and resolve the namespace (the context's default, as kubectl)."""
    if files is not None and (context or kubeconfig):
        raise UsageError("--files reads and writes a directory; it cannot be combined with --context or --kubeconfig")
    env = click.get_current_context().find_object(Env) or Env()
    store = env.store_factory(StoreOptions(files, kubeconfig, context, namespace, create))
    resolved: DryRun = "client" if dry_run == "client" else "server" if dry_run == "server" else "none"
    return Invocation(store, namespace or store.default_namespace, resolved, output)
