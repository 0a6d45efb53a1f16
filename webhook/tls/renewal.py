"""What to do with the webhook's TLS Secret: keep it, issue a serving certificate, or rotate the CA.

The in-cluster bootstrap keeps one Secret (type kubernetes.io/tls) holding the CA that the API server
trusts and the serving pair that every replica serves:

    ca.crt           the current CA (it signs new serving certificates)
    ca.key           its key
    ca-previous.crt  CAs retired by a rotation, still trusted until they expire (absent when none)
    tls.crt, tls.key the serving pair, for the Service's DNS names

`renew(data, names, now)` looks at that data and decides, without I/O: a missing or unusable CA is
created; a CA expiring within CA_RENEW_BEFORE is rotated (the old one moves to ca-previous.crt); a
serving certificate that is missing, for other names, not signed by the CA, or expiring within
SERVING_RENEW_BEFORE is issued anew. The caBundle to publish is the current CA plus every retired
one not yet expired, so a rotation never breaks a request: the bundle carries both CAs before any
replica serves a certificate from the new one, and the old one stays in it until it expires, so a
replica that has not re-read the Secret yet is still trusted. After a rotation the serving
certificate signed by the old CA is kept for CA_SETTLE (measured from the new CA's notBefore) so the
API servers have seen the new bundle before anything is signed by the new CA. Certificates that are
kept keep their exact bytes, so re-running the decision on its own result changes nothing.
"""

from __future__ import annotations

import base64
import datetime
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from webhook.tls import certs

CA_CERT = certs.CA_FILE
CA_KEY = "ca.key"
PREVIOUS_CA = "ca-previous.crt"
TLS_CERT = certs.CERT_FILE
TLS_KEY = certs.KEY_FILE

SERVING_DAYS = 365
CA_DAYS = 3650
SERVING_RENEW_BEFORE = datetime.timedelta(days=30)
CA_RENEW_BEFORE = datetime.timedelta(days=90)
# How long after a CA rotation the old CA's serving certificate stays in use. The new bundle is
# published right after the rotation and kube-apiserver watches webhook configurations, so seconds
# would do; an hour also covers a slow apiserver in an HA control plane. Measured from the new
# CA's notBefore, which certs backdates by 5 minutes.
CA_SETTLE = datetime.timedelta(hours=1)


def dns_names(service: str, namespace: str) -> tuple[str, ...]:
    """Every name the Service is called by (kube-apiserver uses `<service>.<namespace>.svc`)."""
    return (f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}", service)


class CAStep(enum.Enum):
    KEEP = "keep"
    CREATE = "create"  # no usable CA and nothing to carry over
    ROTATE = "rotate"  # a new CA; the old one stays trusted until it expires


class ServingStep(enum.Enum):
    KEEP = "keep"
    ISSUE = "issue"


@dataclass(frozen=True)
class Renewal:
    """The decision, the Secret data after it (decoded bytes) and the PEM CAs to trust."""

    ca: CAStep
    serving: ServingStep
    reasons: tuple[str, ...]
    data: Mapping[str, bytes] = field(repr=False)
    bundle: bytes = field(repr=False)
    changed: bool

    @property
    def ca_bundle(self) -> str:
        """The `caBundle` value of a webhook configuration (base64 of the PEM CAs)."""
        return base64.b64encode(self.bundle).decode("ascii")


@dataclass(frozen=True)
class _Authority:
    cert: x509.Certificate
    key: certs.Key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _certs(pem: bytes | None) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _cert(pem: bytes | None) -> x509.Certificate | None:
    found = _certs(pem)
    return found[0] if found else None


def _key(pem: bytes | None) -> certs.Key | None:
    if not pem:
        return None
    try:
        return certs.load_key(pem)
    except (ValueError, TypeError):
        return None


def _matches(cert: x509.Certificate, key: certs.Key) -> bool:
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*der) == key.public_key().public_bytes(*der)


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ca_problem(data: Mapping[str, bytes], now: datetime.datetime) -> str | None:
    """Why the Secret's CA cannot sign (None when it can and is not due for rotation)."""
    cert, key = _cert(data.get(CA_CERT)), _key(data.get(CA_KEY))
    if CA_CERT not in data and CA_KEY not in data:
        return "no CA in the Secret"
    if CA_CERT not in data or CA_KEY not in data:
        return f"no {CA_KEY if CA_CERT in data else CA_CERT} in the Secret"
    if cert is None or key is None:
        return "the CA in the Secret does not parse"
    if not _matches(cert, key):
        return f"{CA_KEY} does not match {CA_CERT}"
    if cert.not_valid_after_utc - now < CA_RENEW_BEFORE:
        return f"the CA expires {_when(cert.not_valid_after_utc)} (within {CA_RENEW_BEFORE.days} days)"
    return None


def _serving_problem(
    data: Mapping[str, bytes], ca: _Authority, previous: Sequence[x509.Certificate],
    names: Sequence[str], now: datetime.datetime,
) -> tuple[str | None, str | None]:
    """(why to issue a new serving certificate, or None; why the current one is kept, or None)."""
    cert, key = _cert(data.get(TLS_CERT)), _key(data.get(TLS_KEY))
    if cert is None or key is None:
        return "no serving certificate", None
    if not _matches(cert, key):
        return f"{TLS_KEY} does not match {TLS_CERT}", None
    try:
        have = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                   .get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        have = set()
    if have != set(names):
        return f"the serving certificate is for {sorted(have)}, not {sorted(names)}", None
    expires = cert.not_valid_after_utc
    if _signed_by(cert, ca.cert):
        if expires - now < SERVING_RENEW_BEFORE:
            return f"the serving certificate expires {_when(expires)} (within {SERVING_RENEW_BEFORE.days} days)", None
        return None, None
    if any(_signed_by(cert, old) for old in previous):
        settled = ca.cert.not_valid_before_utc + CA_SETTLE
        if now < settled and expires > settled:
            return None, f"the serving certificate stays on the previous CA until {_when(settled)}"
        return "the serving certificate is signed by the previous CA", None
    return "the serving certificate is not signed by the Secret's CA", None


def renew(data: Mapping[str, bytes] | None, names: Sequence[str], now: datetime.datetime) -> Renewal:
    """Decide on the Secret `data` (None when there is no Secret) for the DNS `names` at `now`.

    New keys and certificates are generated here (that is computation, not I/O); their validity
    starts at the real clock, while every decision is made at `now`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    current = dict(data or {})
    reasons: list[str] = []
    retired = _certs(current.get(PREVIOUS_CA))
    previous = [c for c in retired if c.not_valid_after_utc > now]
    if len(previous) != len(retired):
        reasons.append("dropping expired previous CAs from the bundle")

    problem = _ca_problem(current, now)
    cert, key = _cert(current.get(CA_CERT)), _key(current.get(CA_KEY))
    if problem is None and cert is not None and key is not None:
        ca, ca_step = _Authority(cert, key), CAStep.KEEP
    else:
        reasons.append(problem or "no CA in the Secret")
        # The old CA stays trusted while it is valid: a replica may still serve a certificate it signed.
        if cert is not None and cert.not_valid_after_utc > now:
            previous.insert(0, cert)
        ca, ca_step = _Authority(*certs.new_ca(days=CA_DAYS)), CAStep.ROTATE if previous else CAStep.CREATE

    issue_why, keep_why = _serving_problem(current, ca, previous, names, now)
    new = dict(current)
    if ca_step is not CAStep.KEEP:
        new[CA_CERT], new[CA_KEY] = _pem(ca.cert), certs.key_pem(ca.key)
    if issue_why is not None:
        reasons.append(issue_why)
        days = max(1, min(SERVING_DAYS, (ca.cert.not_valid_after_utc - now).days))
        # certs makes the first name the CN, which X.509 limits to 64 characters; a namespace may have
        # 63, so `<service>.<namespace>.svc` may not fit. The shortest name (the bare Service, a DNS
        # label) always does, and kube-apiserver matches the SANs, never the CN.
        serving, serving_key = certs.new_serving_cert(ca.cert, ca.key, sorted(names, key=len), days=days)
        new[TLS_CERT], new[TLS_KEY] = _pem(serving), certs.key_pem(serving_key)
    elif keep_why is not None:
        reasons.append(keep_why)
    if previous != retired:
        if previous:
            new[PREVIOUS_CA] = b"".join(_pem(c) for c in previous)
        else:
            new.pop(PREVIOUS_CA, None)
    bundle = b"".join(_pem(c) for c in [ca.cert, *previous])
    return Renewal(
        ca=ca_step,
        serving=ServingStep.ISSUE if issue_why is not None else ServingStep.KEEP,
        reasons=tuple(reasons),
        data=new,
        bundle=bundle,
        changed=new != current,
    )
