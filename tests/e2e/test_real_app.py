"""A real application on the real data path (issue 18): podinfo, configured from a Secret and a ConfigMap,
with probes, resources and a sidecar, behind the gateway (gloo + Envoy) with our webhooks registered.

- A rollout (`start --env`, `shift 50`, `finish`) while clients send without pause: podinfo's own answers
  show the configured message of each version where the commands say, and no request fails.
- A canary that never turns ready (podinfo's PODINFO_UNREADY): `start` and `status` say so, `shift`
  refuses to weight it, and no request fails because of it.
- A service deployed the ordinary way (Deployment `shop` without a version label, an Upstream without
  subsets, a RouteTable written by hand): `adopt` while clients send, 0 failed requests, the user's
  objects keep their names and uids; then a full rollout to v2, 0 failed requests.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

import pytest

from kubectl_canary.core import objects

from . import podinfo
from .traffic import HEADER, Client, Load, Record

pytestmark = pytest.mark.usefixtures("webhook")

V1, V2 = "hello from v1", "hello from v2"


def _messages(records: Iterable[Record]) -> tuple[Counter[str], list[str]]:
    """podinfo's messages by count, and every request that failed (not a 200 with podinfo's JSON)."""
    seen: Counter[str] = Counter()
    failed: list[str] = []
    for rec in records:
        try:
            seen[json.loads(rec.answer.body)["message"]] += 1 if rec.answer.status == 200 else 0
        except (ValueError, KeyError, TypeError):
            failed.append(rec.answer.label)
            continue
        if rec.answer.status != 200:
            failed.append(rec.answer.label)
    return seen, failed


def _sample(gw, host: str, n: int = 40, headers: dict[str, str] | None = None) -> Counter[str]:
    client = Client(gw.url, host)
    try:
        return _messages(Record(bool(headers), 0, 0, client.get("/shop", headers)) for _ in range(n))[0]
    finally:
        client.close()


def _until(gw, host: str, allowed: set[str], headers: dict[str, str] | None = None, timeout: float = 90) -> None:
    """Until a batch of podinfo's answers shows only the `allowed` messages, each of them."""
    import time

    deadline = time.monotonic() + timeout
    got: Counter[str] = Counter()
    while time.monotonic() < deadline:
        got = _sample(gw, host, 30, headers)
        if set(got) == allowed:
            return
        time.sleep(0.3)
    raise AssertionError(f"/shop {headers or ''}: wanted {sorted(allowed)}, got {dict(got)}")


def _config(namespace: str) -> list[dict]:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop", "namespace": namespace},
              "stringData": {"message": V1}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config", "namespace": namespace},
              "data": {"app.yaml": "feature: on\n"}}
    return [secret, config]


def _podinfo(name: str, namespace: str, labels: dict[str, str]) -> dict:
    """podinfo as a team runs it: its message from a Secret, its config from a ConfigMap volume, probes,
    resources, and a second container beside it (another podinfo, standing in for a log shipper)."""
    main = podinfo.container(
        "shop", args=("--config-path=/config",),
        env=[{"name": "PODINFO_UI_MESSAGE", "valueFrom": {"secretKeyRef": {"name": "shop", "key": "message"}}}],
        readinessProbe=podinfo.http_probe("/readyz"), livenessProbe=podinfo.http_probe("/healthz", failures=5),
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
        volumeMounts=[{"name": "config", "mountPath": "/config", "readOnly": True}])
    sidecar = podinfo.container("log-shipper", port=9899)
    dep = podinfo.deployment(name, namespace, [main, sidecar], replicas=1,
                             volumes=[{"name": "config", "configMap": {"name": "shop-config"}}])
    dep["spec"]["selector"]["matchLabels"] = dict(labels)
    dep["spec"]["template"]["metadata"]["labels"] = dict(labels)
    dep["spec"]["template"]["metadata"]["annotations"] = {"example.com/scrape": "true"}
    return dep


def _routetable(namespace: str, group: str, subset: str | None) -> dict:
    dest: dict = {"upstream": {"name": "shop", "namespace": namespace}}
    if subset:
        dest["subset"] = {"values": {"version": subset}}
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "storefront", "namespace": namespace, "labels": {"apiGroup": group}},
            "spec": {"routes": [{"matchers": [{"prefix": "/shop"}], "options": {"prefixRewrite": "/"},
                                 "routeAction": {"single": dest}}]}}


def _upstream(namespace: str, subsets: bool) -> dict:
    upstream = objects.upstream("shop", namespace)
    if not subsets:
        del upstream["spec"]["kube"]["subsetSpec"]
    del upstream["metadata"]["labels"]
    return upstream


def _apply(kubectl, items: list[dict]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


@pytest.fixture
def shop(kubectl, namespace, site, rollout):
    """podinfo `shop-v1` (version label v1), its Service, Upstream and RouteTable, serving through the gateway."""
    _apply(kubectl, [*_config(namespace), _podinfo("shop-v1", namespace, {"app": "shop", "version": "v1"}),
                     podinfo.service("shop", namespace), _upstream(namespace, subsets=True),
                     _routetable(namespace, site.group, "v1")])
    svc = rollout(namespace, "shop")
    kubectl("rollout", "status", "deployment/shop-v1", "-n", namespace, "--timeout=120s")
    _until(svc.gw, site.host, {V1})
    return svc


def test_a_rollout_of_podinfo_shows_each_versions_message_and_fails_no_request(shop, site):
    with Load(shop.gw.url, site.host, "/shop", clients=4, max_seconds=400) as load:
        shop.canary("start", "--version", "v2", "--env", f"PODINFO_UI_MESSAGE={V2}")
        _until(shop.gw, site.host, {V2}, HEADER)
        _until(shop.gw, site.host, {V1})
        shop.canary("shift", "--weight", "50")
        _until(shop.gw, site.host, {V1, V2})
        shop.canary("finish")
        _until(shop.gw, site.host, {V2})
        _until(shop.gw, site.host, {V2}, HEADER)
    seen, failed = _messages(load.records)
    assert not failed, f"{len(failed)} of {len(load.records)} requests failed: {failed[:5]}"
    assert set(seen) == {V1, V2} and len(load.records) > 200, seen
    shop.gone("v1")


def test_a_canary_that_never_turns_ready_gets_no_weighted_traffic(shop, site, kubectl_canary, namespace):
    with Load(shop.gw.url, site.host, "/shop", clients=4, max_seconds=300) as load:
        started = kubectl_canary("start", "shop", "--version", "v2", "-n", namespace, "--timeout", "15",
                                 "--env", "PODINFO_UNREADY=true", check=False)
        assert started.returncode == 1
        assert "canary v2 of service shop" in started.stderr and "has 0 of 1 pods ready" in started.stderr
        status = kubectl_canary("status", "shop", "-n", namespace, check=False)
        assert status.returncode == 1 and "v2: 0 ready endpoints" in status.stdout, status.stdout
        refused = kubectl_canary("shift", "shop", "--weight", "50", "-n", namespace, check=False)
        assert refused.returncode == 1 and "gets no weighted traffic" in refused.stderr
        assert _sample(shop.gw, site.host, 40) == {V1: 40}
        # Header-matched requests fall back to v1 (Gloo's subset fallback): answered, not failed.
        assert _sample(shop.gw, site.host, 40, HEADER) == {V1: 40}
    seen, failed = _messages(load.records)
    assert not failed and set(seen) == {V1}, (failed[:5], seen)


def test_adopting_a_running_podinfo_fails_no_request_and_keeps_the_users_objects(kubectl, kubectl_canary,
                                                                                namespace, site, rollout):
    _apply(kubectl, [*_config(namespace), _podinfo("shop", namespace, {"app": "shop"}),
                     podinfo.service("shop", namespace), _upstream(namespace, subsets=False),
                     _routetable(namespace, site.group, None)])
    kubectl("rollout", "status", "deployment/shop", "-n", namespace, "--timeout=120s")
    svc = rollout(namespace, "shop")
    _until(svc.gw, site.host, {V1})
    def uids() -> dict[str, str]:
        return {kind: json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)["metadata"]["uid"]
                for kind, name in (("deployment", "shop"), ("upstream", "shop"), ("routetable", "storefront"))}

    before = uids()

    with Load(svc.gw.url, site.host, "/shop", clients=4, max_seconds=600) as load:
        adopted = kubectl_canary("adopt", "shop", "--version", "v1", "-n", namespace)
        assert "took over from kubectl-client-side-apply: .spec.routes" in adopted.stderr, adopted.stderr
        adopting = len(load.records)
        assert uids() == before  # the user's objects, kept: not deleted and recreated
        svc.healthy()
        svc.canary("start", "--version", "v2", "--env", f"PODINFO_UI_MESSAGE={V2}")
        _until(svc.gw, site.host, {V2}, HEADER)
        svc.canary("shift", "--weight", "50")
        _until(svc.gw, site.host, {V1, V2})
        svc.canary("finish")
        _until(svc.gw, site.host, {V2})
    seen, failed = _messages(load.records)
    assert not failed, f"{len(failed)} of {len(load.records)} failed ({adopting} during adopt): {failed[:5]}"
    assert set(seen) == {V1, V2}
    rt = json.loads(kubectl("get", "routetable", "storefront", "-n", namespace, "-o", "json").stdout)
    assert rt["spec"]["routes"][0]["options"] == {"prefixRewrite": "/"}
    # finish removed the old primary, the adopted Deployment `shop`; v2 runs as shop-v2.
    assert kubectl("get", "deployment", "shop", "-n", namespace, check=False).returncode != 0
