"""A RouteTable that holds more than the plugin's route, on the real data path (issue 18): two routes to the
service with their own options and one to another Upstream, written by hand with `kubectl apply`. The
plugin rewrites only the routes to the service (a header twin above each during a rollout), takes the
routes list over from `kubectl apply` saying so, and leaves the other route, every option and the order
as they were; requests to each path land where they should; and an edit another writer makes to the
same RouteTable while the plugin runs is never lost (its writes are conditional on what it read).
"""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest

from kubectl_canary.core import objects
from kubectl_canary.core.objects import Workload

from .traffic import HEADER, sample, wait_for

pytestmark = pytest.mark.usefixtures("webhook")

SLOW = {"timeout": "20s", "retries": {"retryOn": "5xx", "numRetries": 2}}
FAST = {"timeout": "5s"}


def _dest(ns: str, upstream: str, version: str | None) -> dict:
    dest: dict = {"upstream": {"name": upstream, "namespace": ns}}
    if version:
        dest["subset"] = {"values": {"version": version}}
    return dest


def _hand_written(ns: str, group: str, version: str, other_timeout: str = "7s") -> dict:
    return {"apiVersion": "gateway.solo.io/v1", "kind": "RouteTable",
            "metadata": {"name": "shop-routes", "namespace": ns, "labels": {"apiGroup": group}},
            "spec": {"routes": [
                {"matchers": [{"prefix": "/shop/slow"}], "options": SLOW,
                 "routeAction": {"single": _dest(ns, "shop", version)}},
                {"matchers": [{"prefix": "/shop"}], "options": FAST,
                 "routeAction": {"single": _dest(ns, "shop", version)}},
                {"matchers": [{"prefix": "/other"}], "options": {"timeout": other_timeout},
                 "routeAction": {"single": _dest(ns, "other", None)}},
            ]}}


def _routes(kubectl, ns: str) -> list[dict]:
    return json.loads(kubectl("get", "routetable", "shop-routes", "-n", ns, "-o", "json").stdout)["spec"]["routes"]


def _unmanaged(routes: list[dict]) -> list[dict]:
    """The routes the plugin must not touch, and the options and matchers of the ones it manages."""
    found = []
    for route in routes:
        dest = (route.get("routeAction") or {}).get("single") or {}
        if (dest.get("upstream") or {}).get("name") == "other":
            found.append(route)
        elif "multi" in route.get("routeAction", {}) or not any("headers" in m for m in route["matchers"]):
            found.append({k: v for k, v in route.items() if k != "routeAction"})
    return found


@pytest.fixture
def shop(rollout, site, namespace, kubectl):
    """Service `shop` at v1 by init, another http-echo service `other` without a RouteTable of its own, and
    shop's RouteTable rewritten by hand with `kubectl apply` into three routes."""
    svc = rollout(namespace, "shop")
    svc.canary("init", "--version", "v1", "--api-group", site.group)
    other = [objects.service("other", namespace), objects.deployment("other", namespace, "v1", Workload(), "primary"),
             objects.upstream("other", namespace)]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": other}))
    kubectl("apply", "-f", "-", input=json.dumps(_hand_written(namespace, site.group, "v1")))
    svc.healthy()
    wait_for(svc.gw.url, site.host, "/other", {"version:other-v1"})
    return svc


def _lands(svc, plain: str, header: str) -> None:
    host = svc.site.host
    for path in ("/shop", "/shop/slow"):
        wait_for(svc.gw.url, host, path, {svc.version(plain)})
        wait_for(svc.gw.url, host, path, {svc.version(header)}, HEADER)
    assert sample(svc.gw.url, host, "/other", 20) == {"version:other-v1": 20}
    assert sample(svc.gw.url, host, "/other", 20, HEADER) == {"version:other-v1": 20}


def test_a_rollout_touches_only_the_routes_to_the_service(shop, kubectl, namespace, kubectl_canary):
    before = _unmanaged(_routes(kubectl, namespace))
    started = kubectl_canary("start", "shop", "--version", "v2", "-n", namespace)
    assert "took over from kubectl-client-side-apply: .spec.routes" in started.stderr, started.stderr
    routes = _routes(kubectl, namespace)
    assert len(routes) == 5 and [r["matchers"][0]["prefix"] for r in routes] == [
        "/shop/slow", "/shop/slow", "/shop", "/shop", "/other"]
    assert routes[0]["options"] == SLOW and routes[2]["options"] == FAST  # the twins carry their route's options
    assert _unmanaged(routes) == before
    _lands(shop, "v1", "v2")

    shop.canary("shift", "--weight", "30")
    assert _unmanaged(_routes(kubectl, namespace)) == before
    shop.healthy()
    n = 200
    got = sample(shop.gw.url, shop.site.host, "/shop/slow", n)
    assert set(got) == {shop.version("v1"), shop.version("v2")}, got

    shop.canary("finish")
    shop.healthy()
    _lands(shop, "v2", "v2")
    expected = _hand_written(namespace, "x", "v2")["spec"]["routes"]
    assert _routes(kubectl, namespace) == expected  # byte for byte as written, at the new version

    shop.canary("start", "--version", "v3")
    _lands(shop, "v2", "v3")
    shop.canary("abort", "--delete-canary")
    shop.healthy()
    _lands(shop, "v2", "v2")
    assert _routes(kubectl, namespace) == expected


class Editor:
    """Another writer: edits the /other route's timeout by read-modify-write (`kubectl replace`, which is
    conditional on the resourceVersion it read), counting up, until stopped; remembers what it wrote."""

    def __init__(self, kubectl, ns: str) -> None:
        self.kubectl, self.ns = kubectl, ns
        self.written: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        count = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            rt = json.loads(self.kubectl("get", "routetable", "shop-routes", "-n", self.ns, "-o", "json").stdout)
            count += 1
            value = f"{100 + count}s"
            for route in rt["spec"]["routes"]:
                if route["matchers"][0].get("prefix") == "/other":
                    route["options"] = {"timeout": value}
            done = self.kubectl("replace", "-f", "-", input=json.dumps(rt), check=False)
            if done.returncode == 0:
                self.written.append(value)
            time.sleep(0.05)

    def __enter__(self) -> Editor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def test_an_edit_made_by_another_writer_during_the_commands_is_not_lost(shop, kubectl, namespace):
    with Editor(kubectl, namespace) as editor:
        shop.canary("start", "--version", "v2")
        for weight in ("10", "20", "30", "40", "50"):
            shop.canary("shift", "--weight", weight)
        while len(editor.written) < 3:  # the editor also wrote after the plugin's last command
            time.sleep(0.1)
    assert editor.written, "the other writer never got a write in"
    routes = _routes(kubectl, namespace)
    other = next(r for r in routes if r["matchers"][0]["prefix"] == "/other")
    assert other["options"] == {"timeout": editor.written[-1]}, (editor.written[-5:], other)
    weights = [d["weight"] for r in routes if "multi" in r["routeAction"]
               for d in r["routeAction"]["multi"]["destinations"]]
    assert weights == [50, 50, 50, 50]  # and the plugin's own last write holds too
    assert copy.deepcopy(routes[0]["options"]) == SLOW
