"""Self-managed TLS in the cluster: the Secret, the caBundle of our webhook configurations, the files.

`ensure_serving_cert` is what `canary-webhook serve --tls-secret S --service SVC --webhook-configuration W`
runs before serving (and `start_renewal` every few minutes after): read Secret S in the pod's
namespace, let `webhook.tls.renewal` decide (keep, issue, rotate the CA), store the result, publish the
caBundle into every webhook of the Mutating- and ValidatingWebhookConfiguration W, then write
tls.crt/tls.key into the certificate directory that the server reloads from. The bundle is
published before the files are written, so nothing is served before the API server trusts it.

Replicas start together, so every write is optimistic: a create that loses (409 AlreadyExists) or
an update that loses (409 Conflict on resourceVersion) re-reads the Secret and decides again, which
adopts the winner's certificate. The caBundle patch is computed against the object just read and
only sent when it differs. The permissions needed are those of deploy/base/rbac-tls.yaml and the
canary-webhook-cabundle ClusterRole; a 403 names the one missing.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubectl_canary.core.errors import ClusterError
from webhook.tls import certs, renewal

log = logging.getLogger("canary_webhook.bootstrap")

SECRET_TYPE = "kubernetes.io/tls"
SECRET_LABELS = {"app.kubernetes.io/name": "canary-webhook", "app.kubernetes.io/component": "tls"}
# Each attempt re-reads after losing a race; more than a few means something else keeps writing.
ATTEMPTS = 5
# The renewal loop's period: one GET of the Secret and of each webhook configuration.
RENEW_INTERVAL = 600.0
# After a failure, or while a webhook configuration does not exist yet, try again sooner.
RETRY_INTERVAL = 30.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one reconciliation did: the decision, whether the served files changed, what is missing."""

    renewal: renewal.Renewal
    files_written: bool
    missing_configurations: tuple[str, ...]


@dataclass(frozen=True)
class _Config:
    """One kind of webhook configuration and the calls to read and patch it."""

    kind: str
    resource: str
    read: Callable[..., Any]
    patch: Callable[..., Any]


def _status_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body or "{}").get("message") or err.reason)
    except ValueError:
        return str(err.reason)


def _cluster_error(err: Exception, verb: str, what: str, permission: str) -> ClusterError:
    """A one-line ClusterError; on 403 it names the permission the ServiceAccount lacks."""
    if isinstance(err, ApiException) and err.status == 403:
        return ClusterError(
            f"forbidden to {verb} {what}: the webhook's ServiceAccount needs '{verb}' on {permission}; "
            f"the API server said: {_status_message(err)}"
        )
    reason = _status_message(err) if isinstance(err, ApiException) else str(err)
    return ClusterError(f"could not {verb} {what}: {reason}")


def _decode(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(response.data)
    return found


def _secret_data(secret: Mapping[str, Any] | None) -> dict[str, bytes] | None:
    if secret is None:
        return None
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _encoded(data: Mapping[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode("ascii") for k, v in sorted(data.items())}


class _Secrets:
    """Read, create and replace one Secret, translating API errors."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str) -> None:
        self.core, self.namespace, self.name = core, namespace, name
        self.what = f"Secret {namespace}/{name}"

    def _fail(self, err: Exception, verb: str) -> ClusterError:
        # RBAC cannot restrict create by name, so the Role grants create on all Secrets of the namespace.
        secrets = "secrets" if verb == "create" else f"secrets named {self.name!r}"
        return _cluster_error(err, verb, self.what, f"{secrets} in namespace {self.namespace} "
                              "(the Role in deploy/base/rbac-tls.yaml)")

    def _call(self, verb: str, tolerated: int, request: Callable[..., Any], *args: Any) -> Any | None:
        """Send one request; None when the API answers `tolerated` (404 on get, 409 on a lost race)."""
        try:
            return request(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as err:
            if err.status == tolerated:
                return None
            raise self._fail(err, verb) from err
        except Exception as err:  # urllib3 and socket errors: the API server cannot be reached
            raise self._fail(err, verb) from err

    def read(self) -> dict[str, Any] | None:
        found = self._call("get", 404, self.core.read_namespaced_secret, self.name, self.namespace)
        return None if found is None else _decode(found)

    def create(self, data: Mapping[str, bytes]) -> bool:
        """Create the Secret; False when another replica created it first."""
        # Objects stay dicts; the client validates a dict body into its V1Secret model.
        body: Any = {
            "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": dict(SECRET_LABELS)},
            "data": _encoded(data),
        }
        return self._call("create", 409, self.core.create_namespaced_secret, self.namespace, body) is not None

    def replace(self, found: Mapping[str, Any], data: Mapping[str, bytes]) -> bool:
        """Replace the Secret as read (its resourceVersion guards the write); False on a conflict."""
        body: Any = copy.deepcopy(dict(found))
        body["data"] = _encoded(data)
        replaced = self._call("update", 409, self.core.replace_namespaced_secret, self.name, self.namespace, body)
        return replaced is not None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _reconcile_secret(secrets: _Secrets, names: tuple[str, ...], now: datetime.datetime) -> renewal.Renewal:
    """Decide on the Secret and store the decision, re-reading after every lost race."""
    for _ in range(ATTEMPTS):
        found = secrets.read()
        decided = renewal.renew(_secret_data(found), names, now)
        if found is None:
            if secrets.create(decided.data):
                log.info("created %s: %s", secrets.what, "; ".join(decided.reasons))
                return decided
            log.info("%s was created by another replica meanwhile; using its certificate", secrets.what)
            continue
        if not decided.changed:
            return decided
        if secrets.replace(found, decided.data):
            log.info("updated %s (CA: %s, serving certificate: %s): %s", secrets.what, decided.ca.value,
                     decided.serving.value, "; ".join(decided.reasons))
            return decided
        log.info("%s was updated by another replica meanwhile; deciding again", secrets.what)
    raise ClusterError(f"{secrets.what} kept changing while it was being renewed ({ATTEMPTS} attempts); "
                       "is something else writing it?")


def _configs(api_client: client.ApiClient) -> tuple[_Config, ...]:
    admission = client.AdmissionregistrationV1Api(api_client)
    return (
        _Config("MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
                admission.read_mutating_webhook_configuration, admission.patch_mutating_webhook_configuration),
        _Config("ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
                admission.read_validating_webhook_configuration, admission.patch_validating_webhook_configuration),
    )


def with_ca_bundle(configuration: Mapping[str, Any], ca_bundle: str) -> dict[str, Any]:
    """A copy of a webhook configuration whose every webhook trusts `ca_bundle`."""
    wanted = copy.deepcopy(dict(configuration))
    for hook in wanted.get("webhooks") or []:
        hook.setdefault("clientConfig", {})["caBundle"] = ca_bundle
    return wanted


def _permission(config: _Config, name: str) -> str:
    return f"{config.resource} named {name!r} (the ClusterRole canary-webhook-cabundle in deploy/base/rbac.yaml)"


def _publish_one(config: _Config, name: str, ca_bundle: str) -> bool:
    """Patch the caBundle into every webhook of one configuration; False when it does not exist."""
    what = f"{config.kind} {name}"
    for _ in range(ATTEMPTS):
        verb = "get"
        try:
            found = _decode(config.read(name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
            ops = jsonpatch.make_patch(found, with_ca_bundle(found, ca_bundle)).patch
            if not ops:
                return True
            verb = "patch"
            config.patch(name, ops, _content_type="application/json-patch+json",
                         _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
            log.info("published the caBundle in %s", what)
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            # The webhook list changed between our read and our patch: read again.
            if verb == "patch" and err.status in (409, 422):
                continue
            raise _cluster_error(err, verb, what, _permission(config, name)) from err
        except Exception as err:
            raise _cluster_error(err, verb, what, _permission(config, name)) from err
    raise ClusterError(f"{what} kept changing while its caBundle was being patched ({ATTEMPTS} attempts)")


def _write_files(cert_dir: Path, data: Mapping[str, bytes]) -> bool:
    """Write tls.crt/tls.key when they differ from the files there (an unchanged pair is not touched)."""
    cert, key = data[renewal.TLS_CERT], data[renewal.TLS_KEY]
    try:
        same = (cert_dir / certs.CERT_FILE).read_bytes() == cert and (cert_dir / certs.KEY_FILE).read_bytes() == key
    except OSError:
        same = False
    if not same:
        certs.write_pair(cert_dir, cert, key)
    return not same


def reconcile(
    api_client: client.ApiClient, namespace: str, secret_name: str, service: str, webhook_configuration: str,
    cert_dir: Path | str, now: datetime.datetime | None = None,
) -> Outcome:
    """One pass of the bootstrap (see the module docstring); `now` is the moment decisions are made at."""
    secrets = _Secrets(client.CoreV1Api(api_client), namespace, secret_name)
    decided = _reconcile_secret(secrets, renewal.dns_names(service, namespace), now or _now())
    missing = tuple(
        f"{config.kind} {webhook_configuration}" for config in _configs(api_client)
        if not _publish_one(config, webhook_configuration, decided.ca_bundle)
    )
    for what in missing:
        log.warning("%s does not exist (yet); its caBundle is set once it does", what)
    written = _write_files(Path(cert_dir), decided.data)
    if written:
        log.info("serving certificate %s (expires %s) written to %s",
                 certs.fingerprint(decided.data[renewal.TLS_CERT])[:16],
                 certs.not_after(decided.data[renewal.TLS_CERT]).isoformat(), cert_dir)
    return Outcome(decided, written, missing)


def ensure_serving_cert(
    api_client: client.ApiClient, namespace: str, secret_name: str, service: str, webhook_configuration: str,
    cert_dir: Path | str,
) -> None:
    """Make Secret `namespace/secret_name`, the caBundle of `webhook_configuration` and the files in
    `cert_dir` hold a valid serving certificate for Service `service`; raises ClusterError."""
    reconcile(api_client, namespace, secret_name, service, webhook_configuration, cert_dir)


class RenewalLoop(threading.Thread):
    """A daemon thread re-running the bootstrap every `interval` seconds (sooner after a failure).

    Run it in the process that stays up (with gunicorn: the arbiter, which does not fork it into
    the workers); the workers pick up renewed files through their certificate reloader.
    """

    def __init__(self, run_once: Callable[[], Outcome], interval: float, retry: float) -> None:
        super().__init__(name="tls-renewal", daemon=True)
        self.run_once, self.interval, self.retry = run_once, interval, retry
        self._stopping = threading.Event()

    def run(self) -> None:
        delay = self.interval
        while not self._stopping.wait(delay):
            try:
                outcome = self.run_once()
            except ClusterError as err:
                log.error("TLS renewal failed, retrying in %.0fs: %s", self.retry, err)
                delay = self.retry
            except Exception:
                log.exception("TLS renewal failed unexpectedly, retrying in %.0fs", self.retry)
                delay = self.retry
            else:
                delay = self.retry if outcome.missing_configurations else self.interval

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self.join(timeout)


def start_renewal(
    api_client: client.ApiClient, namespace: str, secret_name: str, service: str, webhook_configuration: str,
    cert_dir: Path | str, interval: float = RENEW_INTERVAL,
) -> RenewalLoop:
    """Start the renewal loop (first pass after `interval`: call ensure_serving_cert before serving)."""
    loop = RenewalLoop(
        lambda: reconcile(api_client, namespace, secret_name, service, webhook_configuration, cert_dir),
        interval, min(interval, RETRY_INTERVAL),
    )
    loop.start()
    return loop
