"""The flags every command takes (SPEC 2 and kubectl's connection flags), and the `Invocation` they resolve to.

The connection flags are kubectl's (cli-runtime's ConfigFlags), with its names, help and
`--request-timeout` syntax. The store they select is opened through click's context object, `Env`
(`cli.env`); what `-n` and SERVICE complete to is `cli.candidates`, imported only when completing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kubectl_canary.cli.env import Env, store_options
from kubectl_canary.store import DryRun, Store


class Duration(click.ParamType[float, Any]):
    """kubectl's `--request-timeout`: whole seconds (`30`), or a Go duration (`1s`, `2m`, `1m30s`); 0 is none."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        if text.isdigit():
            return float(text)
        import durationpy  # small; only when the flag is given

        try:
            seconds = float(durationpy.from_str(text).total_seconds())
        except Exception:  # durationpy raises a bare Exception for bad input
            seconds = -1.0
        if seconds < 0:
            self.fail(f"{value!r}: a timeout is whole seconds or a number with a unit (e.g. 1s | 2m | 3h)", param, ctx)
        if seconds == 0 and any(c in "123456789" for c in text):
            # Under a microsecond, durationpy's resolution: still a timeout (kubectl's times out at once), not
            # 0, which means none.
            seconds = 1e-6
        return seconds


# Completion callbacks import the candidates module only when completing (it costs every run otherwise).
def _namespaces(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from kubectl_canary.cli.candidates import namespaces

    return namespaces(ctx, param, incomplete)


def complete_services(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from kubectl_canary.cli.candidates import services

    return services(ctx, param, incomplete)


# kubectl's connection flags (cli-runtime ConfigFlags), in its order and with its help texts.
CONNECTION_OPTIONS = [
    click.option("--kubeconfig", help="Path to the kubeconfig file to use for CLI requests (default $KUBECONFIG)."),
    click.option("--context", help="The name of the kubeconfig context to use."),
    click.option("--cluster", help="The name of the kubeconfig cluster to use."),
    click.option("--user", help="The name of the kubeconfig user to use."),
    click.option("-s", "--server", help="The address and port of the Kubernetes API server."),
    click.option("--token", help="Bearer token for authentication to the API server."),
    click.option("--as", "as_user", metavar="USER", help="Username to impersonate for the operation."),
    click.option("--as-group", "as_groups", multiple=True, metavar="GROUP",
                 help="Group to impersonate for the operation (repeatable)."),
    click.option("--as-uid", metavar="UID", help="UID to impersonate for the operation."),
    click.option("--certificate-authority", metavar="PATH", help="Path to a cert file for the certificate authority."),
    click.option("--client-certificate", metavar="PATH", help="Path to a client certificate file for TLS."),
    click.option("--client-key", metavar="PATH", help="Path to a client key file for TLS."),
    click.option("--insecure-skip-tls-verify", is_flag=True,
                 help="Do not check the server's certificate. This makes your HTTPS connections insecure."),
    click.option("--tls-server-name", help="Server name to use for server certificate validation."),
    click.option("--request-timeout", type=Duration(), metavar="DURATION",
                 help="How long to wait for a single server request (e.g. 1s, 2m, 3h; 0: no limit; default 30s)."),
    click.option("--cache-dir", metavar="DIR", help="Accepted as kubectl does; kubectl-canary caches nothing."),
]


@dataclass(frozen=True)
class Invocation:
    """A command's resolved common flags: its store and namespace, dry-run mode and output format."""

    store: Store
    namespace: str
    dry_run: DryRun
    output: str | None


def common_options(
    outputs: tuple[str, ...] = ("yaml", "json"), writes: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add `-n`, kubectl's connection flags, `--files`, `--dry-run`, `-o` and (for writes) `--force-conflicts`."""
    options = [
        click.option("-n", "--namespace", shell_complete=_namespaces,
                     help="Namespace of the service (default: the context's, else default)."),
        *CONNECTION_OPTIONS,
        click.option(
            "--files",
            type=click.Path(file_okay=False, path_type=Path),
            help="Read and write YAML manifests in DIR instead of a cluster.",
        ),
        click.option(
            "--values", "values", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
            help="Read and write FILE, values of the gloo-app chart (charts/gloo-app), instead of objects.",
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
    if writes:
        options.append(click.option(
            "--force-conflicts", is_flag=True,
            help="Take over fields another field manager (e.g. a GitOps controller) owns, as kubectl apply does.",
        ))

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def invocation(
    namespace: str | None, files: Path | None, dry_run: str, output: str | None, **flags: Any
) -> Invocation:
    """Open the store the flags select and resolve the namespace (the context's default, as kubectl)."""
    options = store_options(namespace, files, **flags)
    env = click.get_current_context().find_object(Env) or Env()
    store = env.store_factory(options)
    resolved: DryRun = "client" if dry_run == "client" else "server" if dry_run == "server" else "none"
    return Invocation(store, namespace or store.default_namespace, resolved, output)
