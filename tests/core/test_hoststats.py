"""Envoy's per-host counters: parsing /clusters?format=json, windows between readings, sums per version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.hoststats import (
    HostStats,
    cluster_name,
    parse_clusters,
    per_version,
    reading_of,
    versions_by_ip,
    window,
)


def host(ip: str, **stats: int) -> dict[str, Any]:
    # As Envoy writes it: uint64 values as strings, zero values left out (proto3 JSON).
    return {"address": {"socket_address": {"address": ip, "port_value": 9898}},
            "stats": [{"name": n, "value": str(v)} for n, v in stats.items() if v]
            + [{"name": "cx_total"}, {"name": "rq_active", "type": "GAUGE"}]}


def clusters(**named: list[dict[str, Any]]) -> str:
    return json.dumps({"cluster_statuses": [{"name": n, "host_statuses": hs} for n, hs in named.items()]})


def pod(ip: str, version: str | None, dual: str | None = None) -> dict[str, Any]:
    labels = {"app": "podinfo"} | ({"version": version} if version else {})
    status: dict[str, Any] = {"podIP": ip}
    if dual:
        status["podIPs"] = [{"ip": ip}, {"ip": dual}]
    return {"metadata": {"name": f"p-{ip}", "labels": labels}, "status": status}


@pytest.mark.parametrize("text, cluster, expected", [
    (clusters(podinfo_default=[host("10.0.0.1", rq_total=7, rq_success=5, rq_error=2, rq_timeout=1)]),
     "podinfo_default", {"10.0.0.1": HostStats(7, 5, 2, 1, 0)}),
    # another Upstream's cluster is not the service's
    (clusters(other_default=[host("10.0.0.1", rq_total=7)], podinfo_default=[host("10.0.0.2", cx_connect_fail=3)]),
     "podinfo_default", {"10.0.0.2": HostStats(cx_connect_fail=3)}),
    (clusters(podinfo_default=[]), "podinfo_default", {}),
    (clusters(), "podinfo_default", {}),
    # a host without a socket address (a pipe) is left out
    (json.dumps({"cluster_statuses": [{"name": "c", "host_statuses": [{"address": {"pipe": {"path": "/x"}}}]}]}),
     "c", {}),
])
def test_parse_clusters(text: str, cluster: str, expected: dict[str, HostStats]) -> None:
    assert parse_clusters(text, cluster) == expected


@pytest.mark.parametrize("text", ["not json", "[1, 2]", ""])
def test_parse_clusters_refuses_what_is_not_envoys_json(text: str) -> None:
    with pytest.raises(InvalidObject, match="clusters"):
        parse_clusters(text, "c")


@pytest.mark.parametrize("before, after, expected", [
    (HostStats(10, 9, 1), HostStats(25, 22, 3), HostStats(15, 13, 2)),
    (HostStats(), HostStats(4, 4), HostStats(4, 4)),
    # the proxy restarted: counting began again, the later reading is the window
    (HostStats(100, 100), HostStats(6, 5, 1), HostStats(6, 5, 1)),
])
def test_since(before: HostStats, after: HostStats, expected: HostStats) -> None:
    assert after.since(before) == expected


@pytest.mark.parametrize("stats, requests, failed", [
    (HostStats(rq_total=10, rq_success=8, rq_error=2), 10, 2),
    (HostStats(rq_total=10, rq_error=3, rq_timeout=3), 10, 3),  # a timeout is a 504: one failure, not two
    (HostStats(rq_total=4, rq_success=4, cx_connect_fail=2), 6, 2),
])
def test_requests_and_failures(stats: HostStats, requests: int, failed: int) -> None:
    assert (stats.requests, stats.failed) == (requests, failed)


def test_window_sums_every_proxy_per_version() -> None:
    before = reading_of({"gw-a": {"10.0.0.1": HostStats(10, 10), "10.0.0.2": HostStats(1, 1)},
                         "gw-b": {"10.0.0.1": HostStats(5, 5)}})
    after = reading_of({"gw-a": {"10.0.0.1": HostStats(30, 30), "10.0.0.2": HostStats(4, 2, 2)},
                        "gw-b": {"10.0.0.1": HostStats(12, 12), "10.0.0.2": HostStats(3, 3)},
                        "gw-c": {"10.0.0.9": HostStats(50, 50)}})
    versions = versions_by_ip([pod("10.0.0.1", "v1"), pod("10.0.0.2", "v2")])
    assert per_version(window(before, after), versions) == {"v1": HostStats(27, 27), "v2": HostStats(6, 4, 2)}


@pytest.mark.parametrize("pods, expected", [
    ([pod("10.0.0.1", "v1"), pod("10.0.0.2", "v2")], {"10.0.0.1": "v1", "10.0.0.2": "v2"}),
    ([pod("10.0.0.1", None)], {}),
    ([pod("10.0.0.1", "v1", dual="fd00::1")], {"10.0.0.1": "v1", "fd00::1": "v1"}),
    ([{"metadata": {"labels": {"version": "v1"}}, "status": {}}], {}),  # not scheduled yet
])
def test_versions_by_ip(pods: list[dict[str, Any]], expected: dict[str, str]) -> None:
    assert versions_by_ip(pods) == expected


@pytest.mark.parametrize("name, namespace, expected", [
    ("podinfo", "shop", "podinfo_shop"), ("podinfo", "", "podinfo")])
def test_cluster_name_is_the_one_gloo_makes(name: str, namespace: str, expected: str) -> None:
    assert cluster_name(name, namespace) == expected
