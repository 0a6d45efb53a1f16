"""The in-cluster TLS bootstrap (webhook.tls.bootstrap) against a real kube-apiserver.

Two "replicas" (threads, each with its own API client and certificate directory, as two pods
have) run `ensure_serving_cert` together. Their first reads of the Secret are held at a barrier, so
both really decide on the same state and race on the write: the loser gets 409 from the API server
and must adopt the winner's certificate. Afterwards both serve the same certificate, the Secret
exists once, and every webhook of both configurations trusts it: a TLS handshake with the server's
own certificate reloader, verified by a client that trusts only the published caBundle, succeeds
for each DNS name of the Service, as kube-apiserver's call would. Then: a second run changes
nothing, an expiring certificate is renewed (again by two racing replicas), a CA rotation keeps
both the old and the new certificate trusted, the renewal loop renews on its own, and a missing
webhook configuration is only a warning.

The webhook configurations are deploy/base's own, renamed per test and with a namespaceSelector
that matches no namespace: kube-apiserver would call them for every RouteTable of the shared
control plane otherwise, and no webhook runs behind them here.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from webhook.cluster.client import api_client
from webhook.tls import bootstrap, certs, renewal
from webhook.tls.reload import CertReloader

from .controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"
SHIPPED_CONFIGURATION = "kubectl-canary"
SERVICE = "canary-webhook"
SECRET = "canary-webhook-tls"
CONFIG_KINDS = ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")

Obj = dict[str, Any]


# ---- helpers shared with test_rbac.py ------------------------------------------------------------


def load_base(name: str) -> list[Obj]:
    """The objects of deploy/base/`name` (which must exist: the test is about the shipped file)."""
    path = BASE / name
    assert path.is_file(), f"{path} is missing: this test applies the shipped file, it has no stand-in for it"
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def webhook_configurations(name: str, namespace: str) -> list[Obj]:
    """deploy/base's two webhook configurations, renamed to
    `name`, calling the Service in `namespace`, and intercepting nothing (see the module docstring)."""
    found = []
    for kind, file in (("MutatingWebhookConfiguration", "mutatingwebhookconfiguration.yaml"),
                       ("ValidatingWebhookConfiguration", "validatingwebhookconfiguration.yaml")):
        objs = load_base(file)
        obj = copy.deepcopy(next(o for o in objs if o["kind"] == kind))
        assert obj["metadata"]["name"] == SHIPPED_CONFIGURATION
        obj["metadata"]["name"] = name
        for hook in obj["webhooks"]:
            assert "caBundle" not in hook["clientConfig"], "deploy/ ships a caBundle: re-applying would erase ours"
            hook["clientConfig"]["service"]["namespace"] = namespace
            hook["namespaceSelector"] = {"matchLabels": {"kubectl-canary.io/e2e-never": name}}
        found.append(obj)
    return found


def get(control_plane: ControlPlane, *args: str) -> Obj:
    found: Obj = json.loads(control_plane.kubectl("get", *args, "-o", "json").stdout)
    return found


def published_bundles(control_plane: ControlPlane, configuration: str) -> list[bytes]:
    """The caBundle of every webhook of both configurations, decoded (b"" where unset)."""
    return [base64.b64decode(hook["clientConfig"].get("caBundle", ""))
            for kind in CONFIG_KINDS for hook in get(control_plane, kind, configuration)["webhooks"]]


def secret_data(control_plane: ControlPlane, namespace: str, name: str = SECRET) -> dict[str, bytes]:
    found = get(control_plane, "secret", name, "-n", namespace)
    assert found["type"] == "kubernetes.io/tls"
    return {k: base64.b64decode(v) for k, v in found["data"].items()}


def served_certificate(reloader: CertReloader, bundle: bytes, name: str) -> bytes:
    """PEM of the certificate the server's reloader serves, as seen by a client that trusts only
    `bundle` and connects to host `name` (the handshake fails if the certificate does not verify)."""
    server_context = reloader.context()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            conn, _ = listener.accept()
            # A refused handshake is the client's error to report.
            try:
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                conn.close()

        server = threading.Thread(target=accept, daemon=True)
        server.start()
        client_context = ssl.create_default_context(cadata=bundle.decode())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_context.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
        server.join(10)
    assert der is not None
    return ssl.DER_cert_to_PEM_cert(der).encode()


def same_cert(a: bytes, b: bytes) -> bool:
    return certs.load_cert(a) == certs.load_cert(b)


# ---- fixtures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a test's webhook lives: its namespace, and its webhook configurations' name."""

    namespace: str
    configuration: str

    @property
    def names(self) -> tuple[str, ...]:
        return renewal.dns_names(SERVICE, self.namespace)

    def ensure(self, api: Any, cert_dir: Path) -> None:
        bootstrap.ensure_serving_cert(api, self.namespace, SECRET, SERVICE, self.configuration, cert_dir)

    def reconcile(self, api: Any, cert_dir: Path, **kwargs: Any) -> bootstrap.Outcome:
        return bootstrap.reconcile(api, self.namespace, SECRET, SERVICE, self.configuration, cert_dir, **kwargs)


@pytest.fixture
def target(control_plane: ControlPlane, namespace: str) -> Iterator[Target]:
    """A namespace and the two webhook configurations, created (and deleted afterwards)."""
    configuration = f"e2e-bootstrap-{secrets.token_hex(4)}"
    manifests = json.dumps({"apiVersion": "v1", "kind": "List",
                            "items": webhook_configurations(configuration, namespace)})
    control_plane.kubectl("create", "-f", "-", input=manifests)
    yield Target(namespace, configuration)
    control_plane.kubectl("delete", "-f", "-", "--ignore-not-found", input=manifests, check=False)


@pytest.fixture
def api(control_plane: ControlPlane) -> Any:
    """An API client as the webhook builds it (`--kubeconfig`), here with the admin kubeconfig."""
    return api_client(str(control_plane.kubeconfig))


def race_first_reads(monkeypatch: pytest.MonkeyPatch, replicas: int = 2) -> None:
    """Hold each replica's first read of the Secret until every replica has read it, so that all of
    them decide on the same state and then race on the write (deterministically, not by luck)."""
    barrier = threading.Barrier(replicas, timeout=30)
    seen: set[int] = set()
    real_read = bootstrap._Secrets.read

    def read(self: bootstrap._Secrets) -> dict[str, Any] | None:
        found = real_read(self)
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            barrier.wait()
        return found

    monkeypatch.setattr(bootstrap._Secrets, "read", read)


def run_replicas(control_plane: ControlPlane, target: Target, cert_dirs: list[Path]) -> None:
    """Run ensure_serving_cert in one thread per cert dir, each with its own API client; re-raise."""
    errors: list[BaseException] = []

    def replica(cert_dir: Path) -> None:
        try:
            target.ensure(api_client(str(control_plane.kubeconfig)), cert_dir)
        except BaseException as err:  # reported by the test thread
            errors.append(err)

    threads = [threading.Thread(target=replica, args=(d,)) for d in cert_dirs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


def bootstrap_messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == bootstrap.log.name and text in r.getMessage()]


def file_stamps(cert_dir: Path) -> list[tuple[int, int]]:
    stats = [(cert_dir / f).stat() for f in (certs.CERT_FILE, certs.KEY_FILE)]
    return [(s.st_mtime_ns, s.st_ino) for s in stats]


def resource_versions(control_plane: ControlPlane, target: Target) -> list[str]:
    objs = [get(control_plane, "secret", SECRET, "-n", target.namespace)]
    objs += [get(control_plane, kind, target.configuration) for kind in CONFIG_KINDS]
    return [o["metadata"]["resourceVersion"] for o in objs]


def assert_served_and_trusted(control_plane: ControlPlane, target: Target, cert_dirs: list[Path]) -> bytes:
    """Every replica serves the Secret's certificate, and it verifies against the published caBundle
    for every DNS name of the Service; returns that certificate."""
    data = secret_data(control_plane, target.namespace)
    bundles = published_bundles(control_plane, target.configuration)
    assert len(bundles) == 4 and len(set(bundles)) == 1, "every webhook of both configurations trusts one bundle"
    for cert_dir in cert_dirs:
        assert (cert_dir / certs.CERT_FILE).read_bytes() == data[renewal.TLS_CERT]
        reloader = CertReloader(cert_dir)
        for name in target.names:
            assert same_cert(served_certificate(reloader, bundles[0], name), data[renewal.TLS_CERT])
    return data[renewal.TLS_CERT]


# ---- tests ---------------------------------------------------------------------------------------


def test_two_replicas_starting_together_share_one_certificate(
    control_plane: ControlPlane, target: Target, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger=bootstrap.log.name)
    dirs = [tmp_path / "replica-a", tmp_path / "replica-b"]
    race_first_reads(monkeypatch)

    run_replicas(control_plane, target, dirs)

    # Both found no Secret and created one: the API server let one win, the other adopted it.
    assert len(bootstrap_messages(caplog, "created by another replica meanwhile")) == 1
    assert len(bootstrap_messages(caplog, f"created Secret {target.namespace}/{SECRET}")) == 1
    listed = get(control_plane, "secrets", "-n", target.namespace)["items"]
    assert [s["metadata"]["name"] for s in listed if s["type"] == "kubernetes.io/tls"] == [SECRET]
    data = secret_data(control_plane, target.namespace)
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert published_bundles(control_plane, target.configuration) == [data["ca.crt"]] * 4
    assert_served_and_trusted(control_plane, target, dirs)

    # A restart of both replicas keeps everything: no write to the API, no new files to reload.
    before = resource_versions(control_plane, target), [file_stamps(d) for d in dirs]
    monkeypatch.undo()
    caplog.clear()
    run_replicas(control_plane, target, dirs)
    assert (resource_versions(control_plane, target), [file_stamps(d) for d in dirs]) == before
    assert not bootstrap_messages(caplog, "")


def short_name_first(names: tuple[str, ...]) -> list[str]:
    """certs makes the first name the CN (at most 64 characters); the test namespaces are long."""
    return sorted(names, key=len)


def expiring_pair(data: dict[str, bytes], names: tuple[str, ...], days: int = 1) -> tuple[bytes, bytes]:
    """A serving pair from the Secret's own CA that expires in `days` (the renewal margin is 30)."""
    cert, key = certs.new_serving_cert(certs.load_cert(data["ca.crt"]), certs.load_key(data["ca.key"]),
                                       short_name_first(names), days=days)
    return certs.cert_pem(cert), certs.key_pem(key)


def store(control_plane: ControlPlane, namespace: str, data: dict[str, bytes]) -> None:
    """Replace the Secret's data (as an administrator would, or as time passing would)."""
    secret = get(control_plane, "secret", SECRET, "-n", namespace)
    secret["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    control_plane.kubectl("replace", "-f", "-", input=json.dumps(secret))


def test_expiring_certificate_is_renewed_once_by_racing_replicas(
    control_plane: ControlPlane, target: Target, api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dirs = [tmp_path / "replica-a", tmp_path / "replica-b"]
    target.ensure(api, dirs[0])
    data = secret_data(control_plane, target.namespace)
    old_cert, old_key = expiring_pair(data, target.names)
    store(control_plane, target.namespace, {**data, "tls.crt": old_cert, "tls.key": old_key})
    for cert_dir in dirs:
        certs.write_pair(cert_dir, old_cert, old_key)
    configurations_before = resource_versions(control_plane, target)[1:]
    caplog.set_level(logging.INFO, logger=bootstrap.log.name)
    race_first_reads(monkeypatch)

    run_replicas(control_plane, target, dirs)

    # Both saw the expiring certificate and issued one; one update lost on resourceVersion and adopted.
    assert len(bootstrap_messages(caplog, "updated by another replica meanwhile")) == 1
    assert len(bootstrap_messages(caplog, "within 30 days")) == 1
    renewed = assert_served_and_trusted(control_plane, target, dirs)
    assert not same_cert(renewed, old_cert)
    assert certs.not_after(renewed) > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=300)
    after = secret_data(control_plane, target.namespace)
    assert (after["ca.crt"], after["ca.key"]) == (data["ca.crt"], data["ca.key"])
    # Same CA, same bundle: the webhook configurations were not written.
    assert resource_versions(control_plane, target)[1:] == configurations_before


def test_ca_rotation_keeps_old_and_new_certificates_trusted(
    control_plane: ControlPlane, target: Target, api: Any, tmp_path: Path
) -> None:
    serving = tmp_path / "serving"
    target.ensure(api, serving)
    # A CA with 30 days left (the rotation margin is 90) and a certificate it signed, being served.
    ca, ca_key = certs.new_ca(days=30)
    cert, key = certs.new_serving_cert(ca, ca_key, short_name_first(target.names), days=29)
    old = {"ca.crt": certs.cert_pem(ca), "ca.key": certs.key_pem(ca_key),
           "tls.crt": certs.cert_pem(cert), "tls.key": certs.key_pem(key)}
    store(control_plane, target.namespace, old)
    certs.write_pair(serving, old["tls.crt"], old["tls.key"])
    still_old = tmp_path / "not-yet-reloaded"
    certs.write_pair(still_old, old["tls.crt"], old["tls.key"])

    rotation = target.reconcile(api, serving)

    assert (rotation.renewal.ca, rotation.renewal.serving) == (renewal.CAStep.ROTATE, renewal.ServingStep.KEEP)
    data = secret_data(control_plane, target.namespace)
    new_ca = certs.load_cert(data["ca.crt"])
    assert new_ca != ca and data["ca-previous.crt"] == old["ca.crt"]
    bundles = published_bundles(control_plane, target.configuration)
    assert set(bundles) == {data["ca.crt"] + old["ca.crt"]}
    # The served certificate is still the old CA's, and still trusted.
    assert same_cert(assert_served_and_trusted(control_plane, target, [serving]), old["tls.crt"])

    # Once the new bundle has reached the API servers (CA_SETTLE later) the certificate switches CA.
    switch = target.reconcile(api, serving, now=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2))
    assert switch.renewal.serving is renewal.ServingStep.ISSUE and switch.files_written
    switched = assert_served_and_trusted(control_plane, target, [serving])
    assert certs.load_cert(switched).issuer == new_ca.subject
    # A replica that has not picked up the switch yet is still trusted by the same bundle.
    bundle = published_bundles(control_plane, target.configuration)[0]
    assert len(x509.load_pem_x509_certificates(bundle)) == 2
    assert same_cert(served_certificate(CertReloader(still_old), bundle, target.names[0]), old["tls.crt"])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_renewal_loop_renews_before_expiry_and_the_server_reloads(
    control_plane: ControlPlane, target: Target, api: Any, tmp_path: Path
) -> None:
    serving = tmp_path / "serving"
    target.ensure(api, serving)
    data = secret_data(control_plane, target.namespace)
    old_cert, old_key = expiring_pair(data, target.names, days=20)
    store(control_plane, target.namespace, {**data, "tls.crt": old_cert, "tls.key": old_key})
    certs.write_pair(serving, old_cert, old_key)
    reloader = CertReloader(serving)  # one server, running across the renewal
    bundle = published_bundles(control_plane, target.configuration)[0]
    assert same_cert(served_certificate(reloader, bundle, target.names[0]), old_cert)

    loop = bootstrap.start_renewal(api, target.namespace, SECRET, SERVICE, target.configuration, serving,
                                   interval=0.2)
    try:
        wait_until(lambda: (serving / certs.CERT_FILE).read_bytes() != old_cert, "the loop to renew")
    finally:
        loop.stop(timeout=30)
    assert not loop.is_alive()

    renewed = secret_data(control_plane, target.namespace)["tls.crt"]
    assert (serving / certs.CERT_FILE).read_bytes() == renewed
    assert same_cert(served_certificate(reloader, bundle, target.names[0]), renewed)


def test_missing_webhook_configuration_is_a_warning_not_a_failure(
    control_plane: ControlPlane, namespace: str, api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    absent = Target(namespace, f"e2e-absent-{secrets.token_hex(4)}")
    outcome = absent.reconcile(api, tmp_path)
    assert outcome.missing_configurations == (f"MutatingWebhookConfiguration {absent.configuration}",
                                              f"ValidatingWebhookConfiguration {absent.configuration}")
    assert len(bootstrap_messages(caplog, "does not exist (yet)")) == 2
    # The webhook can still serve (the bundle is set once the configurations appear).
    assert (tmp_path / certs.CERT_FILE).read_bytes() == secret_data(control_plane, namespace)["tls.crt"]
