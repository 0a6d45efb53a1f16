"""Why the webhook refuses what Gloo accepts but cannot route, shown on the real data path.

Without our webhooks, a RouteTable that sends half of the traffic without the header to `v9` (no pod
has that version) is Accepted by Gloo, and Envoy's subset fallback (ANY_ENDPOINT, Gloo's default)
spreads that half over every endpoint: v1 gets about 75% and v2, the canary meant for header
traffic only, about 25%. With our webhooks registered, the same write is refused and the traffic
stays as it was. Likewise the seed's Upstream `servicePort: 8080` (the pods' port): Gloo accepts it
and every request gets 503; `kubectl canary status` names the cause, and the webhook refuses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .controlplane import ControlPlane
from .rollout import Rollout, Site
from .traffic import sample, wait_for, within
from .webhook import WebhookProcess, register, unregister


@pytest.fixture
def unguarded(control_plane: ControlPlane) -> Iterator[None]:
    """Our webhooks unregistered (no other module's registration outlives its module)."""
    unregister(control_plane)
    yield
    unregister(control_plane)


def _get_rt(cp: ControlPlane, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(cp.kubectl("get", "routetable", "echo-routes", "-n", ns, "-o", "json").stdout)
    return found


def _with_v9(rt: dict[str, Any]) -> dict[str, Any]:
    """The header-phase RouteTable with its primary route's multi split 50/50 between v1 and v9."""
    edited = json.loads(json.dumps(rt))
    edited.pop("status", None)
    for key in ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"):
        edited["metadata"].pop(key, None)
    multi = next(r["routeAction"]["multi"] for r in edited["spec"]["routes"] if "multi" in r.get("routeAction", {}))
    dests = multi["destinations"]
    dests[0]["weight"], dests[1]["weight"] = 50, 50
    dests[1]["destination"]["subset"]["values"]["version"] = "v9"
    return edited


def _accepted(cp: ControlPlane, ns: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        statuses = (_get_rt(cp, ns).get("status") or {}).get("statuses") or {}
        if statuses and all(s.get("state") == "Accepted" for s in statuses.values()):
            return
        assert time.monotonic() < deadline, f"RouteTable not Accepted by Gloo: {statuses}"
        time.sleep(0.5)


def test_a_route_to_a_version_nothing_serves_leaks_to_the_canary_unless_the_webhook_refuses_it(
    kubectl_canary, control_plane, gateway, site: Site, namespace, webhook_process: WebhookProcess, unguarded,
) -> None:
    svc = Rollout(kubectl_canary, control_plane, gateway, site, namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", site.group)
    svc.canary("start", "--version", "v2")
    svc.healthy()
    svc.wait_for({"v1"}, {"v2"})
    before = _get_rt(control_plane, namespace)

    # Unguarded: Gloo accepts v1:50 / v9:50, and the v9 half falls back to every endpoint.
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "hand-edit", "-f", "-",
                          input=json.dumps(_with_v9(before)))
    _accepted(control_plane, namespace)
    n = 600
    svc.wait_for({"v1", "v2"}, {"v2"})
    got = sample(gateway.url, site.host, "/echo", n)
    assert set(got) == {svc.version("v1"), svc.version("v2")}, got
    assert within(got[svc.version("v2")] / n, 0.25, n), f"v2 got {got[svc.version('v2')]} of {n}, not about 25%"

    # Back to the plugin's routes, then guarded: the same write is refused and nothing changes.
    restored = _with_v9(before)
    restored["spec"] = before["spec"]
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "hand-edit", "-f", "-",
                          input=json.dumps(restored))
    svc.wait_for({"v1"}, {"v2"})
    register(control_plane, webhook_process)
    refused = control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "hand-edit",
                                    "-f", "-", input=json.dumps(_with_v9(before)), check=False)
    assert refused.returncode == 1
    assert 'admission webhook "routetables.validate.kubectl-canary.io" denied the request' in refused.stderr
    assert "v9" in refused.stderr and "no Deployment" in refused.stderr, refused.stderr
    svc.only("v1", n=100)
    svc.only("v2", {"stage": "canary"}, n=20)


def test_the_seeds_upstream_port_routes_nothing_and_status_and_the_webhook_say_so(
    kubectl_canary, control_plane, gateway, site: Site, namespace, webhook_process: WebhookProcess, unguarded,
) -> None:
    svc = Rollout(kubectl_canary, control_plane, gateway, site, namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", site.group)
    svc.healthy()
    svc.wait_for({"v1"}, {"v1"})
    upstream = json.loads(control_plane.kubectl("get", "upstream", "echo", "-n", namespace, "-o", "json").stdout)
    seed = {"apiVersion": upstream["apiVersion"], "kind": "Upstream",
            "metadata": {"name": "echo", "namespace": namespace},
            "spec": {"kube": {**upstream["spec"]["kube"], "servicePort": 8080}}}

    # Unguarded: the seed's servicePort 8080 (the pods' port, not the Service's) is Accepted by Gloo,
    # and every request gets 503; `kubectl canary status` names the cause and exits 1.
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "hand-edit", "-f", "-",
                          input=json.dumps(seed))
    got = wait_for(gateway.url, site.host, "/echo", {"HTTP 503: no healthy upstream"})
    assert set(got) == {"HTTP 503: no healthy upstream"}
    shown = svc.run("status", "echo", "-n", namespace, check=False)
    assert shown.returncode == 1
    assert (f"  - Upstream {namespace}/echo port 8080 is not a port of Service echo (8080 is its targetPort, the "
            "pods' port)") in shown.stdout, shown.stdout
    assert f"Upstream {namespace}/echo: Accepted" in shown.stdout  # what Gloo says, all the same

    # Back to port 80 (init takes the field back from the hand edit): traffic flows again. Guarded, the
    # seed's port is refused.
    svc.canary("init", "--version", "v1", "--api-group", site.group, "--force-conflicts")
    svc.wait_for({"v1"}, {"v1"})
    register(control_plane, webhook_process)
    refused = control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "hand-edit",
                                    "-f", "-", input=json.dumps(seed), check=False)
    assert refused.returncode == 1
    assert ('admission webhook "upstreams.validate.kubectl-canary.io" denied the request: Upstream '
            f"{namespace}/echo port 8080 is not a port of Service echo") in refused.stderr, refused.stderr
    svc.only("v1", n=50)
