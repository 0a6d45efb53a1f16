"""A slow API server for the webhook: tests/store's FakeApiServer answering what a validation of the
usual RouteTable reads (whsupport.cluster()'s objects), each answer after `delay` seconds, and an
InformerLookup on it that has not synced (so every read goes to it, as right after a restart)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from store.fake_apiserver import FakeApiServer, kubeconfig
from whsupport import cluster

from kubectl_canary.core.kinds import Obj
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client


def _list(kind: str, items: list[Obj]) -> Obj:
    return {"apiVersion": "v1", "kind": f"{kind}List", "metadata": {"resourceVersion": "1"}, "items": items}


@contextlib.contextmanager
def slow_cluster(tmp_path: Path, delay: float) -> Iterator[tuple[FakeApiServer, InformerLookup]]:
    objects = cluster()
    (ns,) = [o for o in objects if o["kind"] == "Namespace"]
    (upstream,) = [o for o in objects if o["kind"] == "Upstream"]
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    api = FakeApiServer(delay=delay)
    api.answers.update({
        ("GET", "/api/v1/namespaces/echo"): (200, ns, []),
        ("GET", "/apis/gloo.solo.io/v1/namespaces/echo/upstreams/echo"): (200, upstream, []),
        ("GET", "/apis/gloo.solo.io/v1/upstreams"): (200, _list("Upstream", [upstream]), []),
        ("GET", "/apis/apps/v1/namespaces/echo/deployments"): (200, _list("Deployment", deployments), []),
        ("GET", "/apis/gateway.solo.io/v1/routetables"): (200, _list("RouteTable", []), []),
        ("GET", "/apis/policy.kubectl-canary.io/v1alpha1/canarypolicies"): (200, _list("CanaryPolicy", []), []),
    })
    path = tmp_path / "slow-kubeconfig"
    path.write_text(kubeconfig(api.url))
    lookup = InformerLookup(api_client(str(path)))
    # CoreV1Api takes seconds to import the first time; the server imports it while it starts (see
    # InformerLookup.core), so a request never pays for it: neither does the test's.
    assert lookup.core_direct is not None
    try:
        yield api, lookup
    finally:
        api.close()
