"""Names and name validation (SPEC 1): the object names, and the usage errors for bad input."""

from __future__ import annotations

import pytest

from kubectl_canary.core import names
from kubectl_canary.core.errors import UsageError


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        (names.deployment_name, ("echo", "v1"), "echo-v1"),
        (names.routetable_name, ("echo",), "echo-routes"),
        (names.default_prefix, ("foxtrot",), "/foxtrot"),
    ],
)
def test_object_names_follow_the_seed_chart(function, args, expected):
    assert function(*args) == expected


@pytest.mark.parametrize("name", ["echo", "a", "echo-2", "x" * 63])
def test_valid_service_names_pass(name):
    assert names.check_service(name) == name


@pytest.mark.parametrize("name", ["Echo", "-echo", "echo-", "ec_ho", "", "x" * 64, "echo.v1"])
def test_invalid_service_names_are_usage_errors(name):
    with pytest.raises(UsageError, match="invalid service name"):
        names.check_service(name)


@pytest.mark.parametrize(
    ("service", "version", "ok"),
    [("echo", "v1", True), ("echo", "v2-rc1", True), ("echo", "V2", False), ("echo", "v_2", False),
     ("e" * 60, "v10", False), ("e" * 59, "v10", True)],
)
def test_versions_must_make_a_valid_deployment_name(service, version, ok):
    if ok:
        assert names.check_version(service, version) == version
    else:
        with pytest.raises(UsageError, match="invalid version"):
            names.check_version(service, version)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("example", True), ("Ex.am_ple-1", True), ("", True), ("-x", False), ("a b", False), ("x" * 64, False)],
)
def test_label_values(value, ok):
    if ok:
        assert names.check_label_value("--api-group", value) == value
    else:
        with pytest.raises(UsageError, match="invalid --api-group"):
            names.check_label_value("--api-group", value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("stage=canary", ("stage", "canary")), ("x-user = beta ", ("x-user", "beta")), ("a=b=c", ("a", "b=c"))],
)
def test_headers_parse_as_name_value(text, expected):
    assert names.parse_header(text) == expected


@pytest.mark.parametrize("text", ["stage", "=canary", "stage=", "bad name=x", "st@ge=x"])
def test_malformed_headers_are_usage_errors(text):
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        names.parse_header(text)


def test_annotation_names_are_under_the_plugin_prefix():
    assert {names.PHASE, names.PRIMARY, names.CANARY, names.WEIGHT, names.ROLE} == {
        "kubectl-canary.io/phase", "kubectl-canary.io/primary", "kubectl-canary.io/canary",
        "kubectl-canary.io/weight", "kubectl-canary.io/role",
    }


@pytest.mark.parametrize(("routetable", "service"), [
    ("echo-routes", "echo"), ("my-api-routes", "my-api"), ("echo", None), ("-routes", None), ("routes", None),
])
def test_service_of_inverts_routetable_name(routetable, service):
    assert names.service_of(routetable) == service
    if service is not None:
        assert names.routetable_name(service) == routetable
