"""What `-n` and SERVICE complete to: the callbacks click's shell completion asks.

The `-n` option and the SERVICE argument ask the store that the flags typed so far name (a cluster or
a `--files` directory) for the namespaces and for the services that have a RouteTable; a store that
cannot be reached completes nothing. `cli.options` imports this module only when completing (it costs
every run otherwise); `cli.completion` turns the candidates into kubectl's completion output.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from kubectl_canary.cli.env import Env, store_options
from kubectl_canary.core import names
from kubectl_canary.core.kinds import NAMESPACE, ROUTETABLE, annotations_of
from kubectl_canary.store import Store

# Completion runs on every <TAB>: a cluster that does not answer quickly completes nothing.
COMPLETION_TIMEOUT = 5.0
_STORE_FLAGS = ("kubeconfig", "context", "cluster", "user", "server", "token", "as_user", "as_groups", "as_uid",
                "certificate_authority", "client_certificate", "client_key", "insecure_skip_tls_verify",
                "tls_server_name", "request_timeout", "cache_dir")


def _store(ctx: click.Context) -> Store:
    """The store the flags typed so far select (those after the word being completed are not known yet)."""
    flags: dict[str, Any] = {key: ctx.params.get(key) for key in _STORE_FLAGS}
    flags["request_timeout"] = flags["request_timeout"] or COMPLETION_TIMEOUT
    options = store_options(ctx.params.get("namespace"), ctx.params.get("files"), **flags)
    env = ctx.find_object(Env) or Env()
    return env.store_factory(options)


def _names(ctx: click.Context, incomplete: str, read: Any) -> list[CompletionItem]:
    try:
        found = read(_store(ctx))
    except Exception:  # completion must never print a traceback into the user's shell
        return []
    return [CompletionItem(name) for name in sorted(set(found)) if name.startswith(incomplete)]


def namespaces(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`-n`: the cluster's namespaces (or, with --files, the namespaces of the directory's objects)."""
    def read(store: Store) -> list[str]:
        if ctx.params.get("files") is not None:  # a directory has no Namespace objects to speak of
            return [str((o.get("metadata") or {}).get("namespace") or "") for o in store.list(ROUTETABLE, None)]
        return [str((o.get("metadata") or {}).get("name") or "") for o in store.list(NAMESPACE, None)]

    return [item for item in _names(ctx, incomplete, read) if item.value]


def services(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """SERVICE: the services of the namespace (-n, else the context's) that a RouteTable routes: the one
    its `kubectl-canary.io/service` annotation names, else `S` of a RouteTable `S-routes`."""
    def read(store: Store) -> list[str]:
        namespace = ctx.params.get("namespace") or store.default_namespace
        found = (annotations_of(o).get(names.SERVICE_ANNOTATION) or names.service_of(
            str((o.get("metadata") or {}).get("name") or "")) for o in store.list(ROUTETABLE, namespace))
        return sorted({service for service in found if service})

    return _names(ctx, incomplete, read)
