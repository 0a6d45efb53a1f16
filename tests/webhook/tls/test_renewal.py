"""The TLS Secret decisions of webhook.tls.renewal, one row per situation a running webhook meets.

Each row builds a Secret's data with real certificates (short validities stand in for the passing of
time), asks `renew` at `now`, and checks the decision, why, and that what would be served verifies
against the caBundle that would be published, for every name the Service is called by.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from webhook.tls import certs
from webhook.tls.renewal import (
    CA_CERT,
    CA_KEY,
    PREVIOUS_CA,
    TLS_CERT,
    TLS_KEY,
    CAStep,
    Renewal,
    ServingStep,
    dns_names,
    renew,
)

NAMES = dns_names("canary-webhook", "canary-system")
ZERO = datetime.timedelta(0)


def clock() -> datetime.datetime:
    """The real time: certificates are issued by the real clock (backdated 5 minutes), so a decision
    time taken once at import would precede a certificate made minutes later in a long test run."""
    return datetime.datetime.now(datetime.UTC)
HOUR, DAY = datetime.timedelta(hours=1), datetime.timedelta(days=1)

Data = dict[str, bytes]


def secret(ca_days: int = 3650, serving_days: int = 365, names: tuple[str, ...] = NAMES, foreign: bool = False) -> Data:
    """Secret data as the bootstrap stores it; `foreign` signs the serving cert with another CA."""
    ca, ca_key = certs.new_ca(days=ca_days)
    signer, signer_key = certs.new_ca() if foreign else (ca, ca_key)
    cert, key = certs.new_serving_cert(signer, signer_key, names, days=serving_days)
    return {CA_CERT: certs.cert_pem(ca), CA_KEY: certs.key_pem(ca_key),
            TLS_CERT: certs.cert_pem(cert), TLS_KEY: certs.key_pem(key)}


def without(data: Data, *keys: str) -> Data:
    return {k: v for k, v in data.items() if k not in keys}


def replaced(data: Data, **values: bytes) -> Data:
    return {**data, **{k.replace("_", "."): v for k, v in values.items()}}


def other_key(data: Data) -> Data:
    return replaced(data, tls_key=secret()[TLS_KEY])


def bundle_certs(renewal: Renewal) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(renewal.bundle)


def verifies(cert_pem: bytes, renewal: Renewal, name: str, at: datetime.datetime) -> bool:
    """Does a client trusting the published bundle accept `cert_pem` for `name` at `at`?"""
    verifier = PolicyBuilder().store(Store(bundle_certs(renewal))).time(at).build_server_verifier(x509.DNSName(name))
    try:
        verifier.verify(certs.load_cert(cert_pem), [])
    except VerificationError:
        return False
    return True


def rotated(ca_days: int = 30) -> Data:
    """The Secret right after the rotation of a CA that had `ca_days` left."""
    return dict(renew(secret(ca_days=ca_days), NAMES, clock()).data)


CASES: list[tuple[str, Callable[[], Mapping[str, bytes] | None], datetime.timedelta, CAStep, ServingStep, str]] = [
    ("fresh: no Secret", lambda: None, ZERO, CAStep.CREATE, ServingStep.ISSUE, "no CA in the Secret"),
    ("fresh: empty Secret", dict, ZERO, CAStep.CREATE, ServingStep.ISSUE, "no CA in the Secret"),
    ("valid", secret, ZERO, CAStep.KEEP, ServingStep.KEEP, ""),
    ("serving cert missing", lambda: without(secret(), TLS_CERT, TLS_KEY), ZERO, CAStep.KEEP, ServingStep.ISSUE,
     "no serving certificate"),
    ("serving cert garbage", lambda: replaced(secret(), tls_crt=b"not a certificate"), ZERO, CAStep.KEEP,
     ServingStep.ISSUE, "no serving certificate"),
    ("serving key of another cert", lambda: other_key(secret()), ZERO, CAStep.KEEP, ServingStep.ISSUE,
     "tls.key does not match tls.crt"),
    ("serving cert expiring in 10 days", lambda: secret(serving_days=10), ZERO, CAStep.KEEP, ServingStep.ISSUE,
     "within 30 days"),
    ("serving cert expired", lambda: secret(serving_days=1), 2 * DAY, CAStep.KEEP, ServingStep.ISSUE,
     "within 30 days"),
    ("serving cert for another service", lambda: secret(names=dns_names("other", "canary-system")), ZERO,
     CAStep.KEEP, ServingStep.ISSUE, "the serving certificate is for"),
    ("serving cert lacks a name", lambda: secret(names=NAMES[:1]), ZERO, CAStep.KEEP, ServingStep.ISSUE,
     "the serving certificate is for"),
    ("serving cert from a foreign CA", lambda: secret(foreign=True), ZERO, CAStep.KEEP, ServingStep.ISSUE,
     "not signed by the Secret's CA"),
    ("CA key missing", lambda: without(secret(), CA_KEY), ZERO, CAStep.ROTATE, ServingStep.KEEP,
     "no ca.key in the Secret"),
    ("CA cert garbage", lambda: replaced(secret(), ca_crt=b"garbage"), ZERO, CAStep.CREATE, ServingStep.ISSUE,
     "the CA in the Secret does not parse"),
    ("CA key of another CA", lambda: replaced(secret(), ca_key=secret()[CA_KEY]), ZERO, CAStep.ROTATE,
     ServingStep.KEEP, "ca.key does not match ca.crt"),
    ("CA expiring in 30 days", lambda: secret(ca_days=30), ZERO, CAStep.ROTATE, ServingStep.KEEP,
     "within 90 days"),
    ("CA expiring, serving cert missing", lambda: without(secret(ca_days=30), TLS_CERT), ZERO, CAStep.ROTATE,
     ServingStep.ISSUE, "no serving certificate"),
    ("CA expired", lambda: secret(ca_days=1, serving_days=1), 2 * DAY, CAStep.CREATE, ServingStep.ISSUE,
     "the CA expires"),
    ("rotated, settling", rotated, 10 * datetime.timedelta(minutes=1), CAStep.KEEP, ServingStep.KEEP,
     "stays on the previous CA until"),
    ("rotated, settled", rotated, 2 * HOUR, CAStep.KEEP, ServingStep.ISSUE,
     "signed by the previous CA"),
]


@pytest.mark.parametrize(("data", "later", "ca", "serving", "reason"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decision(data: Callable[[], Data | None], later: datetime.timedelta, ca: CAStep, serving: ServingStep,
                  reason: str) -> None:
    before = data()
    now = clock() + later
    result = renew(before, NAMES, now)
    assert (result.ca, result.serving) == (ca, serving), result.reasons
    assert any(reason in why for why in result.reasons) if reason else result.reasons == ()
    # Whatever is stored now is what every replica serves: it verifies against the published bundle.
    for name in NAMES:
        assert verifies(result.data[TLS_CERT], result, name, now)
    assert certs.load_cert(result.data[CA_CERT]) == bundle_certs(result)[0]
    # Kept material keeps its bytes; what was decided anew differs.
    old = before or {}
    assert (result.data.get(CA_KEY) == old.get(CA_KEY)) == (ca is CAStep.KEEP)
    assert (result.data[TLS_CERT] == old.get(TLS_CERT)) == (serving is ServingStep.KEEP)
    assert result.changed == (ca is not CAStep.KEEP or serving is not ServingStep.KEEP)


@pytest.mark.parametrize(("data", "later"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_second_run_keeps_everything(data: Callable[[], Data | None], later: datetime.timedelta) -> None:
    before = data()
    now = clock() + later
    first = renew(before, NAMES, now)
    second = renew(first.data, NAMES, now)
    assert (second.ca, second.serving, second.changed) == (CAStep.KEEP, ServingStep.KEEP, False), second.reasons
    assert second.data == first.data
    assert second.bundle == first.bundle


def test_new_serving_cert_is_valid_for_a_year_and_every_service_name() -> None:
    now = clock()
    result = renew(None, NAMES, now)
    cert = certs.load_cert(result.data[TLS_CERT])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "canary-webhook.canary-system.svc", "canary-webhook.canary-system.svc.cluster.local",
        "canary-webhook.canary-system", "canary-webhook",
    }
    assert cert.not_valid_after_utc - now > 364 * DAY
    assert certs.load_cert(result.data[CA_CERT]).not_valid_after_utc - now > 3649 * DAY
    assert PREVIOUS_CA not in result.data


def test_ca_rotation_never_leaves_a_served_certificate_untrusted() -> None:
    """Every certificate a replica may still serve verifies against the bundle published at each step."""
    now = clock()
    start = secret(ca_days=30)
    old_serving, old_ca = start[TLS_CERT], certs.load_cert(start[CA_CERT])

    rotation = renew(start, NAMES, now)  # the new CA joins the bundle; the served cert stays as it is
    new_ca = certs.load_cert(rotation.data[CA_CERT])
    assert bundle_certs(rotation) == [new_ca, old_ca]
    assert rotation.data[TLS_CERT] == old_serving
    assert rotation.data[PREVIOUS_CA] == certs.cert_pem(old_ca)
    assert verifies(old_serving, rotation, NAMES[0], now)

    later = now + 2 * HOUR  # the bundle has reached every API server: switch to the new CA
    switch = renew(rotation.data, NAMES, later)
    new_serving = switch.data[TLS_CERT]
    assert new_serving != old_serving and certs.load_cert(new_serving).issuer == new_ca.subject
    assert bundle_certs(switch) == [new_ca, old_ca]
    # A replica that has not re-read the Secret yet still serves the old certificate: still trusted.
    assert verifies(old_serving, switch, NAMES[0], later) and verifies(new_serving, switch, NAMES[0], later)

    expired = now + 31 * DAY  # the old CA has expired: it leaves the bundle, the Secret forgets it
    cleanup = renew(switch.data, NAMES, expired)
    assert (cleanup.ca, cleanup.serving, cleanup.changed) == (CAStep.KEEP, ServingStep.KEEP, True)
    assert "dropping expired previous CAs from the bundle" in cleanup.reasons
    assert bundle_certs(cleanup) == [new_ca]
    assert PREVIOUS_CA not in cleanup.data
    assert verifies(new_serving, cleanup, NAMES[0], expired)


def test_ca_bundle_is_the_base64_pem_of_the_bundle() -> None:
    now = clock()
    result = renew(None, NAMES, now)
    assert result.ca_bundle == certs.ca_bundle(result.bundle)
    assert result.bundle == result.data[CA_CERT]


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        renew(None, NAMES, datetime.datetime.now())


def test_longest_namespace_still_gets_a_certificate() -> None:
    """A namespace name may have 63 characters: `<service>.<namespace>.svc` is then longer than a CN may be."""
    now = clock()
    names = dns_names("canary-webhook", "n" * 63)
    result = renew(None, names, now)
    for name in names:
        assert verifies(result.data[TLS_CERT], result, name, now)
