"""Whether a gateway-proxy routes by a step's weights: the canary's share in Envoy's /config_dump."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.inforce import canary_shares, in_force


def entry(version: str, weight: int, cluster: str = "podinfo_shop") -> dict[str, Any]:
    return {"name": cluster, "weight": weight,
            "metadata_match": {"filter_metadata": {"envoy.lb": {"version": version}}}}


def dump(*routes: dict[str, Any]) -> str:
    # the shape of /config_dump (RoutesConfigDump); `?resource=` answers nest routes the same way below
    return json.dumps({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                                    "dynamic_route_configs": [{"route_config": {"virtual_hosts": [
                                        {"name": "vh", "routes": list(routes)}]}}]}]})


def weighted(*entries: dict[str, Any], headers: bool = False) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/podinfo"} | ({"headers": [{"name": "stage"}]} if headers else {})
    return {"match": match, "route": {"weighted_clusters": {"clusters": list(entries)}}}


def single(version: str, cluster: str = "podinfo_shop", headers: bool = False) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/podinfo"} | ({"headers": [{"name": "stage"}]} if headers else {})
    return {"match": match, "route": {"cluster": cluster, "metadata_match": {"filter_metadata": {
        "envoy.lb": {"version": version}}}}}


@pytest.mark.parametrize("text, expected", [
    (dump(weighted(entry("v1", 75), entry("v2", 25))), [25.0]),
    (dump(weighted(entry("v1", 3), entry("v2", 1))), [25.0]),  # relative weights (Gloo's total_weight)
    (dump(weighted(entry("v1", 100), entry("v2", 0))), [0.0]),  # a weight-0 destination stays listed
    (dump(single("v2", headers=True), weighted(entry("v1", 50), entry("v2", 50))), [50.0]),  # header route skipped
    (dump(single("v1")), [0.0]),
    (dump(single("v2")), [100.0]),
    (dump(weighted(entry("v1", 50, "other_shop"), entry("v2", 50, "other_shop"))), []),  # another Upstream's
    (dump(), []),
])
def test_canary_shares(text: str, expected: list[float]) -> None:
    assert canary_shares(text, "podinfo_shop", "v2") == expected


@pytest.mark.parametrize("text, weight, expected", [
    (dump(weighted(entry("v1", 75), entry("v2", 25))), 25, True),
    (dump(weighted(entry("v1", 75), entry("v2", 25))), 50, False),
    # two routes to the service (two prefixes): both must have the step
    (dump(weighted(entry("v1", 50), entry("v2", 50)), weighted(entry("v1", 75), entry("v2", 25))), 50, False),
    (dump(), 0, False),  # no route at all: not in force
])
def test_in_force(text: str, weight: int, expected: bool) -> None:
    assert in_force(text, "podinfo_shop", "v2", weight) is expected


def test_not_a_config_dump() -> None:
    with pytest.raises(InvalidObject, match="config_dump"):
        canary_shares("<html>", "c", "v2")
