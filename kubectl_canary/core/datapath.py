"""What the data path says about a service: Gloo's verdicts and the endpoints each version really has.

Objects Gloo accepts can still route nothing: an Upstream whose `servicePort` is not a port of its
Service gets no endpoints (Gloo only logs it), a version whose pods are not ready gets its share sent
to the other versions (Gloo's default subset fallback, ANY_ENDPOINT), and some warnings, such as a
missing Upstream, reach only the VirtualService that delegates to the RouteTable. `data_path_of`
reads all of that from plain objects (RouteTable, Upstream, Service, EndpointSlices, Pods and, when
they could be read, the VirtualServices) and names every problem; `kubectl canary status` shows them
and exits 1 while any exists. `service_port_problem` is also the webhook's rule for Upstreams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.kinds import Obj, labels_of

ACCEPTED = "Accepted"
BAD_STATES = ("Rejected", "Warning")


@dataclass(frozen=True)
class GlooVerdict:
    """Gloo's status on one object: `state` None when Gloo has written none (yet)."""

    kind: str
    name: str  # namespace/name
    state: str | None
    reason: str = ""

    def describe(self) -> str:
        what = f"{self.kind} {self.name}"
        if self.state is None:
            return f"{what}: no status from Gloo yet"
        return f"{what}: {self.state}" + (f" ({self.reason.strip()})" if self.reason.strip() else "")


@dataclass(frozen=True)
class DataPath:
    """Gloo's verdicts, ready endpoints per version, and the problems found (empty when healthy)."""

    gloo: tuple[GlooVerdict, ...]
    endpoints: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _where(obj: Mapping[str, Any]) -> str:
    return f"{_meta(obj).get('namespace', '')}/{_meta(obj).get('name', '')}"


def verdict(kind: str, obj: Mapping[str, Any]) -> GlooVerdict:
    """Gloo's `status.statuses.<reporter namespace>`; the worst state when several reporters wrote one."""
    status = obj.get("status")
    statuses = status.get("statuses") if isinstance(status, dict) else None
    found = [s for s in (statuses or {}).values() if isinstance(s, dict)] if isinstance(statuses, dict) else []
    if not found:
        return GlooVerdict(kind, _where(obj), None)
    rank = {"Rejected": 0, "Warning": 1, "Pending": 2, ACCEPTED: 3}
    worst = min(found, key=lambda s: rank.get(str(s.get("state")), 2))
    return GlooVerdict(kind, _where(obj), str(worst.get("state") or "Pending"), str(worst.get("reason") or ""))


def service_ports(service: Mapping[str, Any]) -> list[int]:
    spec = service.get("spec")
    ports = spec.get("ports") if isinstance(spec, dict) else None
    return [int(p["port"]) for p in ports or [] if isinstance(p, dict) and isinstance(p.get("port"), int)]


def service_port_problem(upstream: Mapping[str, Any], service: Mapping[str, Any]) -> str | None:
    """Why Gloo would find no endpoints for a kube Upstream's `servicePort` on `service`, or None.

    Gloo matches `kube.servicePort` against the Service's `port`s, not the pods' `targetPort`.
    """
    spec = upstream.get("spec")
    kube = spec.get("kube") if isinstance(spec, dict) else None
    if not isinstance(kube, dict):
        return None
    port, ports = kube.get("servicePort"), service_ports(service)
    if port in ports:
        return None
    name = _meta(service).get("name", "")
    listed = ", ".join(str(p) for p in ports) or "none"
    targets = sorted({str(p.get("targetPort")) for p in (service.get("spec") or {}).get("ports") or []
                      if isinstance(p, dict) and p.get("port") in ports and p.get("targetPort") == port})
    hint = f" ({port} is its targetPort, the pods' port)" if targets else ""
    return (f"Upstream {_where(upstream)} port {port} is not a port of Service {name}{hint}: Gloo builds no "
            f"endpoints for it and every request gets 503; set spec.kube.servicePort to one of the Service's "
            f"ports ({listed})")


def ready_endpoints(slices: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, int]:
    """Ready endpoint addresses by the `version` label of the pod each points at (what Gloo routes to)."""
    version_of = {str(_meta(p).get("name")): labels_of(p).get(names.VERSION_KEY, "") for p in pods}
    counts: dict[str, int] = {}
    for eps in slices:
        for ep in eps.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            ready = (ep.get("conditions") or {}).get("ready")
            if ref.get("kind") != "Pod" or ready is False:
                continue
            version = version_of.get(str(ref.get("name")), "")
            counts[version] = counts.get(version, 0) + len(ep.get("addresses") or [])
    counts.pop("", None)
    return counts


def delegates_to(vs: Mapping[str, Any], rt: Mapping[str, Any]) -> bool:
    """Whether a VirtualService route delegates to `rt`, by ref or by a label selector (Gloo's rules)."""
    vs_ns, rt_ns, rt_name = _meta(vs).get("namespace"), _meta(rt).get("namespace"), _meta(rt).get("name")
    spec = vs.get("spec")
    host = spec.get("virtualHost") if isinstance(spec, dict) else None
    for route in (host.get("routes") or []) if isinstance(host, dict) else []:
        action = route.get("delegateAction") if isinstance(route, dict) else None
        if not isinstance(action, dict):
            continue
        ref = action.get("ref") or ({"name": action["name"], "namespace": action.get("namespace")}
                                    if action.get("name") else None)
        # Gloo looks a ref up exactly as written (gateway translator, RouteTableList.Find): without a
        # namespace it names no RouteTable at all, and Gloo warns "route table .NAME missing".
        if isinstance(ref, dict) and ref.get("name") == rt_name and ref.get("namespace") == rt_ns:
            return True
        selector = action.get("selector")
        if isinstance(selector, dict) and _selects(selector, str(vs_ns), rt):
            return True
    return False


def _selects(selector: Mapping[str, Any], vs_ns: str, rt: Mapping[str, Any]) -> bool:
    namespaces = selector.get("namespaces") or [vs_ns]
    if "*" not in namespaces and _meta(rt).get("namespace") not in namespaces:
        return False
    labels, have = selector.get("labels") or {}, labels_of(dict(rt))
    # Label expressions are not evaluated here: a selector using them counts as selecting.
    return all(have.get(k) == v for k, v in labels.items())


@dataclass(frozen=True)
class Observed:
    """The objects the data path is read from; None for one that does not exist, `virtualservices`
    None when they could not be listed (e.g. a user without that permission)."""

    routetable: Obj
    upstream: Obj | None
    service: Obj | None
    endpoint_slices: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()
    virtualservices: Sequence[Obj] | None = None


def unreadable(reason: str) -> DataPath:
    """The data path of a service whose objects could not be read (e.g. a user who may not list Pods):
    unknown, which is a problem, since nothing shows that requests land where the routes say."""
    return DataPath((), {}, (f"cannot tell what the data path does: {reason}",))


def data_path_of(seen: Observed, service: str, routed: Iterable[str]) -> DataPath:
    """The data path of `service`; `routed` are the versions the routes send some traffic to."""
    rt, ns = seen.routetable, str(_meta(seen.routetable).get("namespace", ""))
    gloo = [verdict("RouteTable", rt)]
    problems: list[str] = []
    if seen.upstream is None:
        problems.append(f"Upstream {ns}/{service} does not exist: the routes send traffic nowhere")
    else:
        gloo.append(verdict("Upstream", seen.upstream))
    if seen.service is None:
        problems.append(f"Service {ns}/{service} does not exist: Gloo finds no endpoints for Upstream {service}")
    elif seen.upstream is not None:
        problems += [p for p in [service_port_problem(seen.upstream, seen.service)] if p]
    if seen.virtualservices is not None:
        parents = [vs for vs in seen.virtualservices if delegates_to(vs, rt)]
        gloo += [verdict("VirtualService", vs) for vs in parents]
        if not parents:
            group = labels_of(rt).get(names.API_GROUP)
            problems.append(f"no VirtualService delegates to RouteTable {ns}/{_meta(rt).get('name')} "
                            f"({'apiGroup ' + group if group else 'no apiGroup label'}): no request reaches it")
    problems += [f"Gloo: {v.describe()}" for v in gloo if v.state in BAD_STATES]
    problems += [f"Gloo has not reported on {v.kind} {v.name}: is Gloo running, and watching namespace "
                 f"{v.name.split('/')[0]}?" for v in gloo if v.state is None]
    endpoints = ready_endpoints(seen.endpoint_slices, seen.pods)
    for version in sorted(routed):
        if endpoints.get(version, 0) == 0:
            problems.append(f"{version}: 0 ready endpoints; Gloo's subset fallback sends its requests to the "
                            "other versions")
    return DataPath(tuple(gloo), endpoints, tuple(problems))
