"""webhook.admission.lookup: the indexed lookups of StateLookup, Memo and CachedOnly, and a request's budget for fresh
reads (Memo) and a fresh read's timeout (InformerLookup), which keep the webhook's own answer ahead of the
API server's `timeoutSeconds`."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from whapi import slow_cluster
from whsupport import admission_review, deployment, dest, multi, routetable, single, static_upstream, upstream

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import Obj
from webhook.admission.decision import Settings
from webhook.admission.lookup import FRESH_TIMEOUT, CachedOnly, Late
from webhook.app import create_app
from webhook.cluster import direct
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client
from webhook.cluster.memo import Memo
from webhook.cluster.state import StateLookup

ROOT = Path(__file__).resolve().parents[3]


def cpol(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
            "metadata": {"name": name}, "spec": spec}


OBJECTS = [
    upstream("echo"), upstream("web", namespace="gloo", service_namespace="other"), static_upstream("ext"),
    deployment("v1"), deployment("v1", namespace="other", app="web"),
    routetable([single(dest(None, name="echo", namespace=None))], name="a"),
    routetable([multi([(dest(None, name="web", namespace="other"), 50), (dest(None, name="echo"), 50)])], name="b"),
    routetable([single(dest(None, name="echo", namespace="echo"))], name="c", namespace="other"),
    cpol("strict", maxWeightStep=10), cpol("typo", maxWeightStp=10),
]


def names(objs: Any) -> list[str]:
    return [f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs]


@pytest.mark.parametrize("wrap", [lambda s: s, Memo, CachedOnly], ids=["StateLookup", "Memo", "CachedOnly"])
@pytest.mark.parametrize(
    ("ask", "expected"),
    [
        (lambda lk: names(lk.upstreams_for("echo")), ["echo/echo"]),
        (lambda lk: names(lk.upstreams_for("other")), ["gloo/web"]),  # where its pods are: serviceNamespace
        (lambda lk: names(lk.upstreams_for("gloo")), []),
        (lambda lk: names(lk.routetables_to("echo", "echo")), ["echo/a", "echo/b", "other/c"]),
        (lambda lk: names(lk.routetables_to("other", "web")), ["echo/b"]),
        (lambda lk: names(lk.routetables_to("other", "echo")), []),  # c names echo/echo, not its own namespace's
        (lambda lk: names(lk.deployments("other")), ["other/web-v1"]),
        (lambda lk: [p.name for p in lk.policy_set()[0]], ["strict"]),
        (lambda lk: [u.name for u in lk.policy_set()[1]], ["typo"]),
    ],
)
def test_the_lookups_answer_the_indexed_questions(wrap, ask, expected):
    assert ask(wrap(StateLookup(OBJECTS))) == expected


class Slow(StateLookup):
    """A lookup whose fresh reads take `seconds` each on a stand-in clock (instead of really waiting)."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__(OBJECTS)
        self.clock, self.seconds = clock, seconds
        self.fresh: list[str] = []

    def deployments(self, namespace: str, fresh: bool = False):
        if fresh:
            self.fresh.append(f"deployments {namespace}")
            self.clock.now += self.seconds
        return super().deployments(namespace)

    def upstream(self, namespace: str, name: str, fresh: bool = False):
        if fresh:
            self.fresh.append(f"upstream {namespace}/{name}")
            self.clock.now += self.seconds
        return super().upstream(namespace, name)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_read_asked_after_the_budget_is_late_and_says_what_and_how_long():
    clock = Clock()
    inner = Slow(clock, seconds=1.5)
    memo = Memo(inner, budget=2.5, clock=clock)
    assert names(memo.deployments("echo", fresh=True)) == ["echo/echo-v1"]  # at 0 s; takes 1.5
    assert memo.upstream("echo", "echo", fresh=True) is not None  # at 1.5 s; takes 1.5
    with pytest.raises(Late) as late:
        memo.deployments("other", fresh=True)  # at 3 s: past the budget, not asked
    assert str(late.value) == ("could not confirm the Deployments in namespace other within 2.5 s: "
                               "this request has taken 3.0 s already (is the API server slow?)")
    assert isinstance(late.value, ClusterError)  # what the app turns into the webhook's own answer
    assert inner.fresh == ["deployments echo", "upstream echo/echo"]
    # What was asked already, and what the cache answers, still costs nothing.
    assert names(memo.deployments("echo", fresh=True)) == ["echo/echo-v1"]
    assert names(memo.deployments("other")) == ["other/web-v1"] and names(memo.routetables_to("other", "web"))
    with pytest.raises(Late, match=r"^could not confirm Upstream gloo/web within 2.5 s"):
        memo.upstream("gloo", "web", fresh=True)


def test_the_budget_counts_from_the_memos_creation_and_none_means_none():
    clock = Clock()
    memo = Memo(Slow(clock, seconds=0), budget=2.5, clock=clock)
    clock.now += 2.4
    assert memo.upstream("echo", "echo", fresh=True) is not None
    clock.now += 0.1
    with pytest.raises(Late):
        memo.upstream("gloo", "web", fresh=True)
    slow = Slow(clock, seconds=60)
    unbounded = Memo(slow, budget=None, clock=clock)
    start = clock.now
    # three minute-long fresh reads, each asked and answered: no budget refuses the third
    assert [names(unbounded.deployments(ns, fresh=True)) for ns in ("echo", "other", "gloo")] == [
        ["echo/echo-v1"], ["other/web-v1"], []]
    assert slow.fresh == ["deployments echo", "deployments other", "deployments gloo"]
    assert clock.now - start == 180


def timeout_seconds(path: Path) -> set[int]:
    return {hook["timeoutSeconds"] for doc in yaml.safe_load_all(path.read_text()) if doc
            for hook in doc.get("webhooks", [])}


def test_at_the_shipped_timeout_seconds_a_request_is_answered_in_time_however_slow_the_reads(tmp_path):
    shipped = timeout_seconds(ROOT / "deploy/base/validatingwebhookconfiguration.yaml") | timeout_seconds(
        ROOT / "deploy/base/mutatingwebhookconfiguration.yaml")
    (timeout,) = shipped
    # The slowest API server that still answers: each read just inside FRESH_TIMEOUT. Fresh reads go on
    # until the budget is spent; the answer, a refusal in the webhook's words, still beats kube-apiserver's
    # `timeoutSeconds` (after which it would refuse the write itself, naming no reason a user can act on).
    with slow_cluster(tmp_path, delay=FRESH_TIMEOUT - 0.1) as (api, lookup):
        client = create_app(lookup, Settings(timeout_seconds=timeout)).test_client()
        began = time.monotonic()
        answer = client.post("/validate", json=admission_review(routetable([single(dest("v1"))])))
        took = time.monotonic() - began
    response = answer.get_json()["response"]
    assert not response["allowed"] and response["status"]["message"].startswith(
        "canary-webhook cannot decide now, so the request is refused (failurePolicy Fail)"), response
    assert len(api.requests) >= 2 and took < timeout, (took, api.requests)


@pytest.fixture
def silent_api(tmp_path: Path):
    """A loopback port that accepts connections and never answers (an API server too busy to reply):
    the kubeconfig for it, and the connections it accepted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
              "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{server.getsockname()[1]}"}}],
              "users": [{"name": "x", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    yield path, accepted
    server.close()
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize(
    ("read", "what"),
    [(lambda lk: lk.upstream("echo", "echo", fresh=True), "Upstream echo/echo"),
     (lambda lk: lk.deployments("echo", fresh=True), "the Deployments in namespace echo"),
     (lambda lk: lk.routetables_to("echo", "echo"), "the RouteTables")],  # not synced yet: read directly
)
def test_a_read_that_times_out_says_so_and_is_not_retried(silent_api, monkeypatch, read, what):
    kubeconfig, accepted = silent_api
    monkeypatch.setattr(direct, "FRESH_TIMEOUT", 0.2)
    monkeypatch.setattr("webhook.cluster.cache.FRESH_TIMEOUT", 0.2)
    lookup = InformerLookup(api_client(str(kubeconfig)))
    with pytest.raises(Late) as late:
        read(lookup)
    assert str(late.value) == f"could not read {what} from the API server: it timed out after 0.2 s"
    # urllib3 would try a read that times out four times: the request would wait four timeouts.
    assert len(accepted) == 1
