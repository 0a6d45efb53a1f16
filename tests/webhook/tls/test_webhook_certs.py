"""Certificates: a CA, a serving certificate it signs for the given names, files written atomically."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from webhook.tls import certs


def test_the_serving_certificate_is_signed_by_the_ca_for_the_given_names():
    ca, ca_key = certs.new_ca("test-ca", days=5)
    cert, _ = certs.new_serving_cert(ca, ca_key, ["canary-webhook.canary-system.svc", "localhost"],
                                     ["127.0.0.1", "::1"], days=2)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["canary-webhook.canary-system.svc", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    left = certs.not_after(certs.cert_pem(cert)) - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=1, hours=23) < left <= datetime.timedelta(days=2)


def test_issue_writes_files_a_tls_server_can_load_and_a_client_can_verify(tmp_path: Path):
    ca_pem = certs.issue(tmp_path, ["localhost"], ["127.0.0.1"], days=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert (tmp_path / "ca.crt").read_bytes() == ca_pem
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert base64.b64decode(certs.ca_bundle(ca_pem)) == ca_pem


def test_write_pair_replaces_both_files_and_leaves_no_temporaries(tmp_path: Path):
    certs.issue(tmp_path, ["a"])
    ca, key = certs.new_ca()
    cert, cert_key = certs.new_serving_cert(ca, key, ["b"])
    before = (tmp_path / "tls.crt").stat().st_ino
    certs.write_pair(tmp_path, certs.cert_pem(cert), certs.key_pem(cert_key))
    assert (tmp_path / "tls.crt").stat().st_ino != before  # a new file renamed in place
    assert certs.fingerprint((tmp_path / "tls.crt").read_bytes()) == certs.fingerprint(certs.cert_pem(cert))
    assert certs.load_key((tmp_path / "tls.key").read_bytes()).public_key() == cert_key.public_key()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]


def test_a_dns_name_longer_than_a_common_name_allows_still_gets_a_certificate() -> None:
    # A 63-character Service in a 63-character namespace: `<svc>.<ns>.svc` is 131 characters.
    long_name = f"{'s' * 63}.{'n' * 63}.svc"
    ca, ca_key = certs.new_ca()
    cert, _ = certs.new_serving_cert(ca, ca_key, [long_name])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [long_name]
