"""webhook.cluster.cache.InformerLookup: its indexes and compiled policies stay right across informer events.

The informers are real (`kubernetes.informer.SharedInformer` threads, through `Watched.list_objects` and the
client's own `Watch`): only the API server's list and watch responses are stood in for by `FakeKind`, so that
a test can say exactly which events arrive, a relist (after a 410 Gone) included. The e2e tests
(tests/e2e/test_webhook_cluster.py) run the same caches against a real kube-apiserver.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.informer import BOOKMARK
from whsupport import deployment, dest, multi, routetable, single, static_upstream, upstream

from kubectl_canary.core.kinds import Obj
from webhook.cluster import index as index_module
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client
from webhook.cluster.informer import Watched
from webhook.cluster.state import StateLookup

_MARKS = itertools.count(1)


class FakeStream:
    """A watch response: one JSON event per line, taken from the kind's queue until the kind is closed."""

    status = 200

    def __init__(self, kind: FakeKind) -> None:
        self.kind = kind

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        while not self.kind.closed.is_set():
            try:
                event = self.kind.events.get(timeout=0.05)
            except queue.Empty:
                continue
            yield (json.dumps(event) + "\n").encode()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeKind:
    """Stands in for the API server's list and watch of one kind (see the module docstring)."""

    def __init__(self, items: Sequence[Obj] = (), missing: bool = False) -> None:
        self.items = [dict(i) for i in items]
        self.missing = missing  # the kind's CRD is not installed: a list is a 404
        self.events: queue.Queue[Obj] = queue.Queue()
        self.closed = threading.Event()
        self.lists = 0
        self._marks: dict[str, threading.Event] = {}

    def list_all(self, **kwargs: Any) -> Any:
        if kwargs.get("watch"):
            return FakeStream(self)
        if self.missing:
            raise ApiException(status=404, reason="Not Found")
        self.lists += 1
        body = {"metadata": {"resourceVersion": f"list-{self.lists}"}, "items": self.items}
        return SimpleNamespace(data=json.dumps(body).encode())

    def send(self, kind: str, obj: Obj) -> None:
        self.events.put({"type": kind, "object": obj})

    def relist(self, items: Sequence[Obj]) -> None:
        """The watch expires (410 Gone): the informer lists again, and finds `items`. Twice, as the API server
        would answer: the client's Watch retries a first 410 itself, and a second one ends the watch."""
        self.items = [dict(i) for i in items]
        for _ in range(2):
            self.events.put({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                          "message": "too old resource version"}})

    def follow(self, watched: Watched) -> None:
        watched.list_all = self.list_all
        watched.informer.add_event_handler(BOOKMARK, self._marked)

    def _marked(self, obj: Any) -> None:
        mark = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        if mark in self._marks:
            self._marks[mark].set()

    def settle(self) -> None:
        """Wait until the informer has handled every event sent so far: they are handled in order, one
        thread per informer, so once a BOOKMARK sent after them is, so are they."""
        mark = f"mark-{next(_MARKS)}"
        self._marks[mark] = threading.Event()
        self.events.put({"type": "BOOKMARK", "object": {"kind": "Upstream", "metadata": {"resourceVersion": mark}}})
        assert self._marks[mark].wait(30), "the informer did not get to the bookmark"


class Cluster:
    """An InformerLookup whose six informers list and watch FakeKinds."""

    def __init__(self, tmp_path: Any, **kinds: FakeKind) -> None:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                  "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
                  "users": [{"name": "x", "user": {"token": "t"}}],
                  "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(config))
        self.lookup = InformerLookup(api_client(str(path)), absent_retry=0.05)
        names = ("upstreams", "deployments_cache", "namespaces", "routetables_cache", "policies_cache", "services")
        self.kinds = {name: kinds.get(name) or FakeKind() for name in names}
        for name, kind in self.kinds.items():
            kind.follow(getattr(self.lookup, name))

    def __enter__(self) -> Cluster:
        self.lookup.start()
        assert self.lookup.wait_ready(30) and self.lookup.ready()
        return self

    def __exit__(self, *exc: Any) -> None:
        for kind in self.kinds.values():
            kind.closed.set()
        self.lookup.stop()


def names(objs: Sequence[Obj]) -> list[str]:
    return [f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs]


def rt(name: str, *targets: tuple[str, str | None], namespace: str = "echo") -> Obj:
    """A RouteTable whose first route is `single` to the first target and a second `multi` to the rest."""
    routes = [single(dest(None, name=targets[0][0], namespace=targets[0][1]))]
    if len(targets) > 1:
        routes.append(multi([(dest(None, name=n, namespace=ns), 50) for n, ns in targets[1:]], prefix="/m"))
    return routetable(routes, name=name, namespace=namespace)


def answers(lookup: Any) -> dict[str, list[str]]:
    """What the indexed lookups answer for every namespace and Upstream these tests use."""
    found = {f"deployments {ns}": names(lookup.deployments(ns)) for ns in ("echo", "other")}
    found |= {f"upstreams_for {ns}": names(lookup.upstreams_for(ns)) for ns in ("echo", "other", "gloo")}
    found |= {f"routetables_to {ns}/{n}": names(lookup.routetables_to(ns, n))
              for ns, n in (("echo", "echo"), ("echo", "api"), ("other", "web"))}
    return found


def same_as_a_scan(cluster: Cluster) -> None:
    """The indexes answer what a scan of the informers' caches would (StateLookup works that out itself), in
    an order of their own (the order of the caches is no promise either)."""
    cached = [o for kind in ("upstreams", "deployments_cache", "routetables_cache")
              for o in getattr(cluster.lookup, kind).cached()]
    found, scanned = answers(cluster.lookup), answers(StateLookup(cached))
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in scanned.items()}


def test_the_indexes_follow_adds_updates_deletes_and_relists(tmp_path):
    deployments = FakeKind([deployment("v1"), deployment("v1", namespace="other", app="web")])
    upstreams = FakeKind([upstream("echo"), upstream("web", namespace="gloo", service_namespace="other"),
                          static_upstream("ext")])
    routetables = FakeKind([rt("a", ("echo", "echo")), rt("b", ("api", None), ("web", "other"), ("echo", None))])
    with Cluster(tmp_path, deployments_cache=deployments, upstreams=upstreams, routetables_cache=routetables) as c:
        assert answers(c.lookup) == {
            "deployments echo": ["echo/echo-v1"], "deployments other": ["other/web-v1"],
            # a kube Upstream is found where its pods live (serviceNamespace); a static one nowhere
            "upstreams_for echo": ["echo/echo"], "upstreams_for other": ["gloo/web"], "upstreams_for gloo": [],
            # single and multi destinations; a ref without namespace is the RouteTable's own
            "routetables_to echo/echo": ["echo/a", "echo/b"], "routetables_to echo/api": ["echo/b"],
            "routetables_to other/web": ["echo/b"],
        }
        same_as_a_scan(c)

        # Watch events: a Deployment added, a RouteTable moved to other Upstreams, one deleted, an Upstream's
        # pods moved to another namespace.
        deployments.send("ADDED", deployment("v2"))
        routetables.send("MODIFIED", rt("b", ("web", "other")))
        routetables.send("DELETED", rt("a", ("echo", "echo")))
        upstreams.send("MODIFIED", upstream("echo", service_namespace="other"))
        for kind in (deployments, routetables, upstreams):
            kind.settle()
        assert answers(c.lookup) == {
            "deployments echo": ["echo/echo-v1", "echo/echo-v2"], "deployments other": ["other/web-v1"],
            "upstreams_for echo": [], "upstreams_for other": ["gloo/web", "echo/echo"], "upstreams_for gloo": [],
            "routetables_to echo/echo": [], "routetables_to echo/api": [], "routetables_to other/web": ["echo/b"],
        }
        same_as_a_scan(c)

        # A relist after 410 Gone: gone objects leave the indexes, changed ones move, new ones arrive.
        deployments.relist([deployment("v2"), deployment("v3", namespace="other")])
        routetables.relist([rt("b", ("echo", "echo")), rt("c", ("api", "echo"))])
        upstreams.relist([upstream("echo")])
        for kind in (deployments, routetables, upstreams):
            kind.settle()
        assert (deployments.lists, routetables.lists, upstreams.lists) == (2, 2, 2)
        assert answers(c.lookup) == {
            "deployments echo": ["echo/echo-v2"], "deployments other": ["other/echo-v3"],
            "upstreams_for echo": ["echo/echo"], "upstreams_for other": [], "upstreams_for gloo": [],
            "routetables_to echo/echo": ["echo/b"], "routetables_to echo/api": ["echo/c"],
            "routetables_to other/web": [],
        }
        same_as_a_scan(c)


def cpol(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
            "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def read_calls(monkeypatch) -> list[list[str]]:
    """The names of the policies each call of `read_policies` (as webhook.cluster.index calls it) was given."""
    calls: list[list[str]] = []
    real = index_module.read_policies

    def counting(objects):
        objects = list(objects)
        calls.append([o["metadata"]["name"] for o in objects])
        return real(objects)

    monkeypatch.setattr(index_module, "read_policies", counting)
    return calls


def policy_names(lookup: InformerLookup) -> tuple[list[str], list[str]]:
    policies, bad = lookup.policy_set()
    return [p.name for p in policies], [u.name for u in bad]


def test_policies_are_compiled_when_the_informer_delivers_them_not_per_request(tmp_path, read_calls):
    policies = FakeKind([cpol("strict", maxWeightStep=10), cpol("typo", maxWeightStp=10)])
    with Cluster(tmp_path, policies_cache=policies) as c:
        assert policy_names(c.lookup) == (["strict"], ["typo"])
        for _ in range(5):
            policy_names(c.lookup)
        assert read_calls == [["strict"], ["typo"]]  # read as listed, not as asked for

        policies.send("MODIFIED", cpol("typo", maxWeightStep=20))
        policies.send("ADDED", cpol("audit", enforcement="Audit"))
        policies.send("DELETED", cpol("strict", maxWeightStep=10))
        policies.settle()
        assert policy_names(c.lookup) == (["audit", "typo"], [])
        assert read_calls[2:] == [["typo"], ["audit"]]  # only the delivered ones; a delete needs no reading
        policy_names(c.lookup)
        assert len(read_calls) == 4


def eventually(check: Any, what: str, timeout: float = 30) -> None:
    """Wait (polling) until `check()` is true: for a state the informer reaches without a later event."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not seen after {timeout}s"
        time.sleep(0.02)


def test_there_are_no_policies_while_their_crd_is_not_installed(tmp_path, read_calls):
    with Cluster(tmp_path, policies_cache=FakeKind([cpol("strict")], missing=True)) as c:
        assert c.lookup.policies_cache.absent and policy_names(c.lookup) == ([], [])
    policies = FakeKind([cpol("strict", maxWeightStep=10)])
    with Cluster(tmp_path, policies_cache=policies) as c:
        assert policy_names(c.lookup) == (["strict"], [])
        policies.missing = True  # the CRD is uninstalled: the cache keeps its objects, yet there are no policies
        policies.relist([])
        eventually(lambda: c.lookup.policies_cache.absent, "the policy kind noticed gone")
        assert policy_names(c.lookup) == ([], []) and c.lookup.policies() == []
