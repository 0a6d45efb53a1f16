"""The gateway-proxy pods as `shift --step` reads them: through the Kubernetes API only.

Each read goes through the API server's `pods/proxy` subresource (`Store.proxy_get`) to the port on
which Gloo's Helm chart serves a read-only view of Envoy's admin (8082, `gatewayProxies.gatewayProxy.
readConfig: true`: `/stats`, `/clusters`, `/config_dump`). Every running gateway-proxy pod is read,
since a gateway usually runs several replicas and each counts only what it routed. RBAC: `list pods`
in the gateway's namespace and `get pods/proxy` there, and `list pods` in the service's namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_canary.core.errors import ClusterError, InvalidObject
from kubectl_canary.core.hoststats import Reading, parse_clusters, reading_of, versions_by_ip
from kubectl_canary.core.inforce import canary_shares
from kubectl_canary.core.kinds import POD, ObjectRef
from kubectl_canary.core.snapshot import Snapshot
from kubectl_canary.store import Store

CLUSTERS_PATH = "/clusters?format=json"
CONFIG_DUMP_PATH = "/config_dump"


@dataclass(frozen=True)
class Gateway:
    """Where the gateway-proxy pods are, and the port of their read-only admin."""

    namespace: str = "gloo-system"
    selector: str = "gloo=gateway-proxy"
    port: int = 8082

    def describe(self) -> str:
        return f"gateway-proxy pods ({self.selector}) in namespace {self.namespace}"


def proxy_pods(store: Store, gateway: Gateway) -> list[ObjectRef]:
    """The running gateway-proxy pods; ClusterError naming the selector when there is none."""
    pods = store.list(POD, gateway.namespace, gateway.selector)
    running = [ObjectRef.of(p) for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        raise ClusterError(f"no running {gateway.describe()}: the gateway's counters cannot be read; point "
                           "--gateway-namespace and --gateway-selector at your gateway's proxy pods")
    return running


def _read(store: Store, pod: ObjectRef, gateway: Gateway, path: str) -> str:
    try:
        return store.proxy_get(pod, gateway.port, path)
    except ClusterError as err:
        raise ClusterError(f"cannot read {path} of gateway-proxy pod {pod.namespace}/{pod.name} on its read-only "
                           f"admin port {gateway.port} ({err}); Gloo's chart serves it with "
                           "gatewayProxies.gatewayProxy.readConfig=true (or pass --gateway-admin-port)") from err


def read_counts(store: Store, gateway: Gateway, cluster: str) -> Reading:
    """One reading of every gateway-proxy pod's per-host counters on Envoy cluster `cluster`."""
    per_proxy = {}
    for pod in proxy_pods(store, gateway):
        try:
            per_proxy[pod.name] = parse_clusters(_read(store, pod, gateway, CLUSTERS_PATH), cluster)
        except InvalidObject as err:
            raise ClusterError(f"gateway-proxy pod {pod.namespace}/{pod.name}: {err}") from err
    return reading_of(per_proxy)


def shares(store: Store, gateway: Gateway, cluster: str, canary: str) -> dict[str, list[float]]:
    """Per gateway-proxy pod, the canary's share of each weighted route Envoy has on `cluster`."""
    found = {}
    for pod in proxy_pods(store, gateway):
        try:
            found[pod.name] = canary_shares(_read(store, pod, gateway, CONFIG_DUMP_PATH), cluster, canary)
        except InvalidObject as err:
            raise ClusterError(f"gateway-proxy pod {pod.namespace}/{pod.name}: {err}") from err
    return found


def service_versions(store: Store, snap: Snapshot) -> dict[str, str]:
    """The service's pod IPs and their versions (the Service's selector picks the pods)."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(snap.selector.items()))
    return versions_by_ip(store.list(POD, snap.namespace, selector))
