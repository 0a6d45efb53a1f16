"""Certificates for serving the webhook over TLS: a CA, a serving certificate it signs, PEM files.

kube-apiserver calls admission webhooks over HTTPS only, trusting the `caBundle` of the webhook
configuration. This module makes that pair with `cryptography` (ECDSA P-256: small and fast to
generate), writes it the way a rotating Secret volume would (each file replaced atomically by
rename, so a reader never sees half a file) and reads back what a reloader needs (the expiry).
It is used by `canary-webhook certs`, `serve --self-signed`, the tests and the in-cluster TLS bootstrap.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The file names of a kubernetes.io/tls Secret, plus the CA that signed it.
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
CA_FILE = "ca.crt"

Key = ec.EllipticCurvePrivateKey
# Backdated so that a little clock skew between the issuer and kube-apiserver never makes a fresh
# certificate "not yet valid".
_BACKDATE = datetime.timedelta(minutes=5)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, days: int) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    # Both kinds sign with their key (ECDSA); only the CA may sign certificates and CRLs.
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=signs_certificates, crl_sign=signs_certificates,
        encipher_only=False, decipher_only=False,
    )


def new_ca(common_name: str = "canary-webhook-ca", days: int = 3650) -> tuple[x509.Certificate, Key]:
    """A self-signed CA certificate and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(common_name), _name(common_name), key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def is_ip(text: str) -> bool:
    """Whether `text` is an IP address (it goes in the IP SANs) rather than a DNS name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _san(dns_names: Iterable[str], ips: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return names


# X.509 limits a common name to 64 characters, while a Service DNS name can reach 82
# (`<63-char name>.<ns>.svc`); clients match the SANs anyway, so the CN is informational.
_CN_MAX = 64


def _common_name(names: list[str]) -> str:
    return next((n for n in names if len(n) <= _CN_MAX), "canary-webhook")


def new_serving_cert(
    ca_cert: x509.Certificate,
    ca_key: Key,
    dns_names: Iterable[str],
    ips: Iterable[str] = (),
    days: int = 365,
) -> tuple[x509.Certificate, Key]:
    """A serving certificate for `dns_names` and `ips` (subjectAltName; the CN is the first short name).

    kube-apiserver (Go) ignores the CN and matches the host against the SANs only, so every name the
    webhook is called by (e.g. `canary-webhook.canary-system.svc`) must be listed.
    """
    dns_names, ips = list(dns_names), list(ips)
    if not dns_names and not ips:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        _builder(_name(_common_name(dns_names + ips)), ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san(dns_names, ips)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    """The key as unencrypted PKCS#8 PEM (what a kubernetes.io/tls Secret holds)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def load_key(pem: bytes) -> Key:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def not_after(pem: bytes) -> datetime.datetime:
    """When the (first) certificate in `pem` expires, as an aware UTC datetime."""
    return load_cert(pem).not_valid_after_utc


def fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint of the certificate in `pem`, hex (to tell served certificates apart)."""
    return load_cert(pem).fingerprint(hashes.SHA256()).hex()


def ca_bundle(ca_pem: bytes) -> str:
    """The `caBundle` field of a webhook configuration: the CA's PEM, base64-encoded."""
    return base64.b64encode(ca_pem).decode("ascii")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_pair(directory: Path, cert: bytes, key: bytes) -> tuple[Path, Path]:
    """Write tls.key then tls.crt into `directory`, each atomically; returns (cert path, key path).

    The key goes first: a reloader triggered by the new certificate then finds its key already in
    place (the server's reloader also retries a pair that does not match yet).
    """
    directory = Path(directory)
    key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
    write_atomic(key_path, key, 0o600)
    write_atomic(cert_path, cert)
    return cert_path, key_path


def issue(
    directory: Path, dns_names: Iterable[str], ips: Iterable[str] = (), days: int = 365
) -> bytes:
    """A new CA and a serving certificate written to `directory` (ca.crt, tls.crt, tls.key); returns the CA PEM."""
    ca, ca_key = new_ca(days=max(days, 1) * 10)
    cert, key = new_serving_cert(ca, ca_key, dns_names, ips, days)
    ca_bytes = cert_pem(ca)
    write_atomic(Path(directory) / CA_FILE, ca_bytes)
    write_pair(Path(directory), cert_pem(cert), key_pem(key))
    return ca_bytes
