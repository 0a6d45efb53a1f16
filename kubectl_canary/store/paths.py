"""REST paths of the Kubernetes API, built from `Kind` (group, version, plural).

Shared by `ClusterStore` (its reads and writes) and `store.watch` (its watches), which keeps the watch
module from importing the cluster store that calls it.
"""

from __future__ import annotations

from urllib.parse import quote

from kubectl_canary.core.kinds import Kind


def resource_path(kind: Kind, namespace: str | None, name: str | None = None) -> str:
    """The REST path of a collection (no name) or an object: `/apis/G/V/namespaces/N/PLURAL/NAME`."""
    path = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{kind.plural}"
    return path + (f"/{quote(name, safe='')}" if name else "")
