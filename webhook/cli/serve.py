"""`canary-webhook serve`: the admission endpoints over HTTPS, the probes and metrics over HTTP.

The command checks its flags (a usage error exits 2 before anything listens), picks the TLS source
(`--cert-dir`, `--self-signed`, or the in-cluster bootstrap of `webhook.tls.bootstrap`), and hands gunicorn an
app factory that runs in each worker after the fork (`webhook.serving.server`). A program that runs `serve`
from its own code (a test's server, a benchmark's baseline) gives it an `Embedding` as click's context object;
the console script gives none.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from kubectl_canary.core.errors import CanaryError, UsageError
from kubectl_canary.core.names import check_label_value
from webhook import logs
from webhook.admission.decision import ENFORCE, ENFORCEMENTS, FAILURE_POLICIES, Context, Settings, Verdict
from webhook.cli.group import cli, fail
from webhook.cluster.state import StateLookup
from webhook.serving.probes import PROBE_PORT
from webhook.serving.server import GRACEFUL_SECONDS, MAX_DRAIN_SECONDS
from webhook.tls import certs


@dataclass(frozen=True)
class Embedding:
    """What a program that runs `serve` from its own code adds to it (`cli.main(obj=Embedding(...))`): more POST
    endpoints, each answered by a decider through the same parsing, metrics and logs as /mutate and /validate
    (a benchmark's allow-all baseline), and a shorter time for a connection to deliver its request (a test of
    slow clients that need not wait out the shipped 10 s; None: the shipped time)."""

    endpoints: Mapping[str, Callable[[Context], Verdict]] = field(default_factory=dict)
    request_seconds: float | None = None


def _self_signed_dir(host: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="canary-webhook-tls-"))
    names = ["localhost"] + ([host] if host not in ("0.0.0.0", "::", "127.0.0.1", "::1", "localhost") else [])
    dns = [n for n in names if not certs.is_ip(n)]
    ips = ["127.0.0.1", "::1"] + [n for n in names if certs.is_ip(n)]
    ca = certs.issue(directory, dns, ips, days=30)
    click.echo(f"canary-webhook: self-signed certificate; CA at {directory / certs.CA_FILE}", err=True)
    click.echo(f"canary-webhook: caBundle {certs.ca_bundle(ca)}", err=True)
    return directory


def _bootstrap_dir(
    kubeconfig: str | None, secret: str, service: str, configuration: str, cert_dir: Path | None
) -> Path:
    """Self-managed TLS: `webhook.tls.bootstrap` keeps the pair in a Secret, publishes the caBundle and
    writes tls.crt/tls.key into the certificate directory, now and (a thread in the gunicorn master,
    which forks no threads into the workers) before they expire; the server reloads the files."""
    from webhook.tls import bootstrap

    namespace = os.environ.get("POD_NAMESPACE")
    if not namespace:
        raise UsageError("--tls-secret needs the POD_NAMESPACE environment variable (the downward API)")
    from webhook.cluster.client import api_client

    api = api_client(kubeconfig)
    directory = cert_dir or Path(tempfile.mkdtemp(prefix="canary-webhook-tls-"))
    bootstrap.ensure_serving_cert(api, namespace, secret, service, configuration, directory)
    bootstrap.start_renewal(api, namespace, secret, service, configuration, directory)
    return directory


def _app_factory(
    kubeconfig: str | None, state: StateLookup | None, settings: Settings, embedding: Embedding
) -> Callable[[], Any]:
    """Builds the app in the gunicorn worker (after the fork), starting the watch caches there.

    A `--state` directory is read once, in the master (so that a bad file stops `serve` with exit
    2 before it listens); the worker inherits the objects.
    """

    def make_app() -> Any:
        from webhook.app import create_app
        from webhook.serving.allocator import fix_mmap_threshold

        logs.setup()
        fix_mmap_threshold(arenas=1)
        lookup: Any = state
        if lookup is None:
            from webhook.cluster.cache import InformerLookup
            from webhook.cluster.client import api_client

            lookup = InformerLookup(api_client(kubeconfig))
            lookup.start()
        from webhook.serving.worker import SERVING

        return create_app(lookup, settings, serving=SERVING.not_ready, endpoints=embedding.endpoints)

    return make_app


FAILURE_KINDS = ("routetables", "deployments", "upstreams")


def _failure_policies(values: tuple[str, ...]) -> dict[str, str]:
    """`--failure-policy routetables=Fail ...` as {kind: policy}; a UsageError naming the value otherwise."""
    found = {}
    for value in values:
        kind, _, policy = value.partition("=")
        if kind not in FAILURE_KINDS or policy not in FAILURE_POLICIES:
            raise click.BadParameter(f"{value!r}: give KIND=POLICY with KIND one of {', '.join(FAILURE_KINDS)} "
                                     f"and POLICY one of {', '.join(FAILURE_POLICIES)}", param_hint="--failure-policy")
        found[kind] = policy
    return found


def _drain_seconds(value: float) -> float:
    if not 0 <= value <= MAX_DRAIN_SECONDS:  # NaN too
        raise click.BadParameter(
            f"{value:g}: give 0 to {MAX_DRAIN_SECONDS} seconds; the drain and the requests in flight after it "
            f"share the {GRACEFUL_SECONDS} s graceful stop", param_hint="--drain-seconds")
    return value


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535),
              help="HTTPS port of /mutate and /validate (the admission calls only).")
@click.option("--probe-port", default=PROBE_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Plain-HTTP port of /healthz, /readyz and /metrics: a listener and thread of their own, so "
                   "that admission traffic never delays the kubelet's probes (controller-runtime's convention).")
@click.option("--cert-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory with tls.crt and tls.key (reloaded when they change).")
@click.option("--self-signed", is_flag=True, help="Generate a CA and serving certificate in a temp dir.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: in-cluster, else ~/.kube/config.")
@click.option("--state", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Answer from the YAML objects in DIR instead of a cluster.")
@click.option("--default-api-group", metavar="G", help="apiGroup for RouteTables whose Namespace names none.")
@click.option("--enforcement", type=click.Choice(ENFORCEMENTS), default=ENFORCE, show_default=True,
              help="warn: admit what would be denied, with warnings.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--max-queued", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Reviews waiting for a thread at most; more are answered 503 (as are ones that would wait "
                   "over 0.5 s).")
@click.option("--drain-seconds", default=3.0, show_default=True, metavar="SECONDS", type=float,
              callback=lambda _ctx, _param, value: _drain_seconds(value),
              help="After SIGTERM, keep accepting and answering with Connection: close this long (readiness "
                   f"fails) before the requests in flight finish; 0 to {MAX_DRAIN_SECONDS}, as the drain and "
                   f"those requests share the {GRACEFUL_SECONDS} s graceful stop. Keep the Deployment's "
                   f"terminationGracePeriodSeconds above its preStop sleep plus {GRACEFUL_SECONDS} s.")
@click.option("--tls-secret", metavar="NAME", help="Self-managed TLS: keep the serving pair in this Secret.")
@click.option("--service", metavar="NAME", help="Self-managed TLS: the webhook's Service (certificate names).")
@click.option("--webhook-configuration", metavar="NAME", help="Self-managed TLS: configurations to patch.")
@click.option("--failure-policy", "failure_policies", multiple=True, metavar="KIND=POLICY",
              callback=lambda _ctx, _param, value: _failure_policies(value),
              help="The failurePolicy (Fail or Ignore) of the webhook configuration for routetables, deployments "
                   "or upstreams, as the Helm chart sets it: how the webhook answers when it cannot decide in time "
                   "(default: routetables=Fail, deployments=Ignore, upstreams=Ignore).")
@click.option("--timeout-seconds", default=5, show_default=True, type=click.IntRange(1, 30),
              help="The webhook configurations' timeoutSeconds: fresh reads stop in time to answer within it.")
def serve(
    host: str, port: int, probe_port: int, cert_dir: Path | None, self_signed: bool, kubeconfig: str | None,
    state: Path | None, default_api_group: str | None, enforcement: str, workers: int, threads: int, max_queued: int,
    drain_seconds: float, tls_secret: str | None, service: str | None, webhook_configuration: str | None,
    failure_policies: dict[str, str], timeout_seconds: int,
) -> None:
    """Serve /mutate and /validate over HTTPS, and /healthz, /readyz and /metrics over HTTP on --probe-port."""
    from webhook.serving import server

    embedding = click.get_current_context().find_object(Embedding) or Embedding()
    try:
        if probe_port == port:
            raise UsageError(f"--probe-port {probe_port} is --port too: give the probes a port of their own")
        managed = (tls_secret, service, webhook_configuration)
        if any(managed) and not all(managed):
            raise UsageError("--tls-secret, --service and --webhook-configuration go together")
        if sum([bool(tls_secret), self_signed, bool(cert_dir) and not tls_secret]) != 1:
            raise UsageError(
                "give one of --cert-dir DIR, --self-signed, or --tls-secret/--service/--webhook-configuration"
            )
        if state is not None and kubeconfig:
            raise UsageError("--state and --kubeconfig exclude each other")
        if default_api_group:
            check_label_value("--default-api-group", default_api_group)
        objects = StateLookup.from_dir(state) if state is not None else None
        if objects is None:
            from webhook.cluster.client import api_client

            api_client(kubeconfig)  # no usable configuration: say so now, not from a worker that fails to boot
        cleanup = None
        if self_signed:
            cert_dir = cleanup = _self_signed_dir(host)
        elif tls_secret and service and webhook_configuration:
            logs.setup()  # the TLS bootstrap's lines as JSON too (gunicorn's own follow, workers set up again)
            cert_dir = _bootstrap_dir(kubeconfig, tls_secret, service, webhook_configuration, cert_dir)
        assert cert_dir is not None
        settings = Settings(default_api_group or None, enforcement, timeout_seconds=timeout_seconds,
                            **{f"{kind}_failure": policy for kind, policy in failure_policies.items()})
        try:
            opts = server.options(host, port, cert_dir, workers, threads, cleanup, max_queued, drain_seconds,
                                  embedding.request_seconds, probe_port)
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot serve with the certificate in {cert_dir}: {err}") from err
    except CanaryError as err:
        fail(err)
    server.serve(_app_factory(kubeconfig, objects, settings, embedding), opts)
