"""The `canary-webhook` console script: `serve`, `review` (the same decision offline) and `certs`.

Domain errors are translated here: InvalidObject and UsageError exit 2, other CanaryErrors exit 1,
with one line on stderr. `review` exits 0 when the request is allowed, 1 when denied, 2 on bad input.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from kubectl_canary.core.errors import CanaryError, InvalidObject, UsageError
from kubectl_canary.core.kinds import ROUTETABLE, Obj, ObjectRef
from kubectl_canary.core.names import check_label_value
from webhook import certs, logs
from webhook.decision import ENFORCE, ENFORCEMENTS, FAILURE_POLICIES, Context, Settings, Verdict
from webhook.lookup import Lookup
from webhook.memo import Memo
from webhook.mutation import mutate
from webhook.probes import PROBE_PORT
from webhook.review import KIND, BadRequest, GroupKind, Review, parse_document
from webhook.rules import RULES
from webhook.server import GRACEFUL_SECONDS, MAX_DRAIN_SECONDS
from webhook.state import StateLookup
from webhook.validation import validate


def fail(err: CanaryError) -> NoReturn:
    click.echo(f"canary-webhook: {err}", err=True)
    sys.exit(2 if isinstance(err, (UsageError, InvalidObject)) else err.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Admission webhook that guards every Gloo RouteTable (mutate + validate)."""


# -- serve -------------------------------------------------------------------------------------

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
    """Self-managed TLS: `webhook.bootstrap` keeps the pair in a Secret, publishes the caBundle and
    writes tls.crt/tls.key into the certificate directory, now and (a thread in the gunicorn master,
    which forks no threads into the workers) before they expire; the server reloads the files."""
    try:
        from webhook import bootstrap
    except ImportError as err:
        raise UsageError(
            "--tls-secret needs webhook.bootstrap, which this build does not have; use --cert-dir"
        ) from err
    namespace = os.environ.get("POD_NAMESPACE")
    if not namespace:
        raise UsageError("--tls-secret needs the POD_NAMESPACE environment variable (the downward API)")
    from webhook.client import api_client

    api = api_client(kubeconfig)
    directory = cert_dir or Path(tempfile.mkdtemp(prefix="canary-webhook-tls-"))
    bootstrap.ensure_serving_cert(api, namespace, secret, service, configuration, directory)
    bootstrap.start_renewal(api, namespace, secret, service, configuration, directory)
    return directory


def _app_factory(kubeconfig: str | None, state: StateLookup | None, settings: Settings) -> Callable[[], Any]:
    """Builds the app in the gunicorn worker (after the fork), starting the watch caches there.

    A `--state` directory is read once, in the master (so that a bad file stops `serve` with exit
    2 before it listens); the worker inherits the objects.
    """

    def make_app() -> Any:
        from webhook.allocator import fix_mmap_threshold
        from webhook.app import create_app

        logs.setup()
        fix_mmap_threshold(arenas=1)
        lookup: Any = state
        if lookup is None:
            from webhook.cache import InformerLookup
            from webhook.client import api_client

            lookup = InformerLookup(api_client(kubeconfig))
            lookup.start()
        from webhook.worker import SERVING

        return create_app(lookup, settings, serving=SERVING.not_ready)

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
@click.option("--allow-endpoint", is_flag=True, hidden=True, help="Benchmarks: POST /allow admits everything.")
@click.option("--request-seconds", type=click.FloatRange(1, 10), hidden=True,
              help="Tests: seconds a connection has to deliver its request (default 10), so that a test of slow "
                   "clients need not wait 10 s for them to be closed.")
def serve(
    host: str, port: int, probe_port: int, cert_dir: Path | None, self_signed: bool, kubeconfig: str | None,
    state: Path | None, default_api_group: str | None, enforcement: str, workers: int, threads: int, max_queued: int,
    drain_seconds: float, tls_secret: str | None, service: str | None, webhook_configuration: str | None,
    failure_policies: dict[str, str], timeout_seconds: int, allow_endpoint: bool, request_seconds: float | None,
) -> None:
    """Serve /mutate and /validate over HTTPS, and /healthz, /readyz and /metrics over HTTP on --probe-port."""
    from webhook import server

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
            from webhook.client import api_client

            api_client(kubeconfig)  # no usable configuration: say so now, not from a worker that fails to boot
        cleanup = None
        if self_signed:
            cert_dir = cleanup = _self_signed_dir(host)
        elif tls_secret and service and webhook_configuration:
            logs.setup()  # the TLS bootstrap's lines as JSON too (gunicorn's own follow, workers set up again)
            cert_dir = _bootstrap_dir(kubeconfig, tls_secret, service, webhook_configuration, cert_dir)
        assert cert_dir is not None
        settings = Settings(default_api_group or None, enforcement, allow_endpoint, timeout_seconds=timeout_seconds,
                            **{f"{kind}_failure": policy for kind, policy in failure_policies.items()})
        try:
            opts = server.options(host, port, cert_dir, workers, threads, cleanup, max_queued, drain_seconds,
                                  request_seconds, probe_port)
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot serve with the certificate in {cert_dir}: {err}") from err
    except CanaryError as err:
        fail(err)
    server.serve(_app_factory(kubeconfig, objects, settings), opts)


# -- review ------------------------------------------------------------------------------------

def _load_input(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InvalidObject(f"{path}: cannot read it ({err})") from err
    except RecursionError as err:
        raise InvalidObject(f"{path}: cannot read it (nested too deeply)") from err
    if len(docs) != 1:
        raise InvalidObject(f"{path}: expected one document (an object or an AdmissionReview), found {len(docs)}")
    return docs[0]


# The types the API server's schema guarantees for the fields the decisions read. `review` has no schema in
# front of it, so it checks these itself: a wrongly typed field is bad input (exit 2), as the API server
# would refuse it before the validating webhook is asked.
_Shape = tuple[type, Any]
_DEST: dict[str, _Shape] = {"upstream": (dict, None), "subset": (dict, {"values": (dict, None)})}
_META: _Shape = (dict, {"labels": (dict, None), "annotations": (dict, None)})
_ROUTETABLE: dict[str, _Shape] = {"metadata": _META, "spec": (dict, {"routes": (list, (dict, {
    "matchers": (list, (dict, {"headers": (list, (dict, None))})),
    "routeAction": (dict, {"single": (dict, _DEST), "multi": (dict, {"destinations": (list, (dict, {
        "destination": (dict, _DEST), "weight": (int, None)}))})}),
}))})}
_TYPE_NAMES = {dict: "an object", list: "a list", int: "an integer"}


def _shape_problem(value: Any, shape: _Shape, where: str) -> str | None:
    """Where `value` first differs from `shape` (a type and what its fields or items must be), or None."""
    kind, inner = shape
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return f"{where} must be {_TYPE_NAMES[kind]}, not {type(value).__name__} {json.dumps(value, default=str)[:40]}"
    if isinstance(value, list) and inner is not None:
        return next((p for i, item in enumerate(value) if (p := _shape_problem(item, inner, f"{where}[{i}]"))), None)
    if isinstance(value, dict) and inner is not None:
        return next((p for key, sub in inner.items()
                     if value.get(key) is not None and (p := _shape_problem(value[key], sub, f"{where}.{key}"))), None)
    return None


def check_shape(obj: Any, where: str = "") -> None:
    """InvalidObject naming the first field the decisions read that has the wrong type (metadata of any
    object; a RouteTable's routes, matchers, actions and destinations)."""
    fields = _ROUTETABLE if isinstance(obj, dict) and obj.get("kind") == ROUTETABLE.kind else {"metadata": _META}
    problem = _shape_problem(obj, (dict, fields), where.rstrip(".") or "the object")
    if problem:
        raise InvalidObject(problem.replace("the object.", "", 1))


def review_of(doc: Any, state: StateLookup) -> Review:
    """A Review for `-f`: a whole AdmissionReview, or a plain object as a CREATE (an UPDATE when the
    state holds an object of the same kind, namespace and name)."""
    if isinstance(doc, dict) and doc.get("kind") == KIND:
        found = parse_document(doc)
        for key, obj in (("object", found.obj), ("oldObject", found.old)):
            if obj is not None:
                check_shape(obj, f"request.{key}.")
        return found
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        raise BadRequest("the input is neither an AdmissionReview nor a Kubernetes object (apiVersion, kind)")
    check_shape(doc)
    ref = ObjectRef.of(doc)
    namespace = ref.namespace or "default"
    old = state.find(str(doc["apiVersion"]), ref.kind, namespace, ref.name)
    group = str(doc["apiVersion"]).rpartition("/")[0]
    return Review(
        uid=str(uuid.uuid4()),
        kind=GroupKind(group, ref.kind),
        operation="UPDATE" if old is not None else "CREATE",
        namespace=namespace,
        name=ref.name,
        obj=doc,
        old=old,
    )


def decide(review: Review, lookup: Lookup, settings: Settings) -> tuple[Verdict, Verdict, Obj | None]:
    """Mutation, then validation of the mutated object: what kube-apiserver would do with both webhooks
    (the webhook's own rules and platform policy, as `serve` decides)."""
    mutated = mutate(Context(review, Memo(lookup, budget=None), settings), RULES.mutators.values())
    obj = mutated.mutated if mutated.draft is not None else review.obj
    after = Review(review.uid, review.kind, review.operation, review.namespace, review.name, obj, review.old,
                   review.dry_run)
    return mutated, validate(Context(after, Memo(lookup, budget=None), settings), RULES.checks.values()), obj


@cli.command()
@click.option("-f", "--filename", "path", required=True,
              help="An object or an AdmissionReview (YAML/JSON; - for stdin).")
@click.option("--state", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory of the cluster objects to consult (Upstreams, Deployments, RouteTables, ...).")
@click.option("--default-api-group", metavar="G")
@click.option("--enforcement", type=click.Choice(ENFORCEMENTS), default=ENFORCE, show_default=True)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def review(path: str, state: Path | None, default_api_group: str | None, enforcement: str, output: str) -> None:
    """Decide offline: print the (mutated) object, warnings, audit records and denials; exit 0 allowed, 1 denied,
    2 bad input."""
    try:
        lookup = StateLookup.from_dir(state) if state else StateLookup()
        request = review_of(_load_input(path), lookup)
        mutated, validated, obj = decide(request, lookup, Settings(default_api_group or None, enforcement))
    except CanaryError as err:
        fail(err)
    if obj is not None:
        text = json.dumps(obj, indent=2) + "\n" if output == "json" else yaml.safe_dump(obj, sort_keys=False)
        click.echo(text, nl=False)
    for warning in mutated.warnings + validated.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in validated.problems:
        if problem.recorded_only:  # an Audit policy's: the server would only log and count it
            click.echo(f"audit: {problem.message}", err=True)
    if not validated.allowed:
        for problem in validated.problems:
            if problem.deny:
                click.echo(f"denied: {problem.message}", err=True)
        sys.exit(1)


# -- certs -------------------------------------------------------------------------------------

@cli.command("certs")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dns", "dns", multiple=True, metavar="NAME",
              help="DNS name (repeatable), e.g. canary-webhook.canary-system.svc")
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="IP address (repeatable).")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 36500))
def certs_command(out: Path, dns: tuple[str, ...], ips: tuple[str, ...], days: int) -> None:
    """Write ca.crt, tls.crt and tls.key to --out and print the base64 caBundle."""
    try:
        if not dns and not ips:
            raise UsageError("give at least one --dns NAME or --ip ADDR")
        bad = [ip for ip in ips if not certs.is_ip(ip)]
        if bad:
            raise UsageError(f"not an IP address: {', '.join(bad)}")
        ca = certs.issue(out, dns, ips, days)
    except CanaryError as err:
        fail(err)
    click.echo(f"canary-webhook: wrote {out / certs.CA_FILE}, {out / certs.CERT_FILE}, {out / certs.KEY_FILE}",
               err=True)
    click.echo(certs.ca_bundle(ca))


def main() -> None:
    cli()
