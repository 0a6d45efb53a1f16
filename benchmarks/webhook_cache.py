"""The webhook's watch cache at cluster size, in-process, without an API server.

An `webhook.cluster.cache.InformerLookup` is filled through the informers' own code path: each `Watched` gets
a list function that returns generated objects (shaped as an API server sends them: metadata with
managedFields, Deployment and Service status, Gloo's RouteTable statuses), and each informer's
`_initial_list()` fills its cache and fires its event handlers, as a relist would. The cluster:
10,000 Deployments, 10,000 RouteTables and 1,000 Services with their 1,000 Upstreams, over 100
namespaces. Printed, next to their baselines and the issue's targets:

- the RSS this cache costs: the process's RSS after filling minus before (a fresh subprocess, so
  nothing else is counted), next to the RSS before (imports and an empty lookup);
- the time of a Deployment DELETE decision with those 10,000 RouteTables cached (median of N), next
  to the same decision with only the 100 RouteTables of that namespace cached, for a Deployment that
  some RouteTable still needs (denied) and for one that none does (allowed).

The decisions ask the API server again (`fresh=True`) before they trust the cache; here a stub
CustomObjectsApi / CoreV1Api answers those reads from the same cache (as JSON, as the API server would,
but without a network round trip, each answer encoded once: the decision decodes it, as it would a real
one), and the output says so. A benchmark: it prints, it asserts nothing.

    .venv/bin/python benchmarks/webhook_cache.py [--runs 50]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

NAMESPACES = 100
SERVICES_PER_NS = 10  # 1,000 Services and Upstreams
VERSIONS = 10  # Deployments per Service: 10,000
ROUTETABLES_PER_NS = 100  # 10,000
UPSTREAM_NS = "gloo-system"  # where Gloo's discovery writes the Upstreams
# The Deployment DELETEs timed: one a RouteTable still sends traffic to, one no RouteTable names.
IN_USE = ("ns-050", "svc-3-v1")
UNUSED = ("ns-050", "svc-3-v10")

RSS_TARGET_MB = 300.0
DELETE_TARGET_MS = 5.0


# ---- the objects, shaped as kube-apiserver and Gloo write them ----------------------------------------


def _meta(name: str, namespace: str | None, index: int, manager: str, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name, "uid": f"{index:08x}-1b2c-4d5e-8f90-{index:012x}", "resourceVersion": str(100000 + index),
        "generation": 2, "creationTimestamp": "2026-11-02T10:15:30Z", "labels": labels,
        "managedFields": [{
            "manager": manager, "operation": "Apply", "apiVersion": "v1", "time": "2026-11-02T10:15:30Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}}, "f:spec": {".": {}}},
        }],
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def deployment(namespace: str, service: int, version: int, index: int) -> dict[str, Any]:
    name, labels = f"svc-{service}-v{version}", {"app": f"svc-{service}", "version": f"v{version}"}
    return {
        "metadata": {**_meta(name, namespace, index, "kubectl", labels),
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{
                        "name": "app", "image": f"registry.example.com/{namespace}/svc-{service}:1.{version}.0",
                        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                           "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3},
                        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                    "terminationGracePeriodSeconds": 30, "securityContext": {},
                },
            },
        },
        "status": {
            "observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "updatedReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": "2026-11-02T10:16:01Z",
                 "lastTransitionTime": "2026-11-02T10:16:01Z"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{name}-7d4b9c8f6d" has successfully progressed.',
                 "lastUpdateTime": "2026-11-02T10:16:01Z", "lastTransitionTime": "2026-11-02T10:15:30Z"},
            ],
        },
    }


def service(namespace: str, number: int, index: int) -> dict[str, Any]:
    name = f"svc-{number}"
    return {
        "metadata": _meta(name, namespace, index, "kubectl", {"app": name}),
        "spec": {"selector": {"app": name}, "type": "ClusterIP", "clusterIP": f"10.0.{index // 250}.{index % 250}",
                 "clusterIPs": [f"10.0.{index // 250}.{index % 250}"], "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}},
    }


def upstream_name(namespace: str, number: int) -> str:
    return f"{namespace}-svc-{number}-8080"


def upstream(namespace: str, number: int, index: int) -> dict[str, Any]:
    name = upstream_name(namespace, number)
    return {
        "metadata": _meta(name, UPSTREAM_NS, index, "discovery", {"discovered_by": "kubernetesplugin"}),
        "spec": {"discoveryMetadata": {"labels": {"app": f"svc-{number}"}},
                 "kube": {"selector": {"app": f"svc-{number}"}, "serviceName": f"svc-{number}",
                          "serviceNamespace": namespace, "servicePort": 8080,
                          "subsetSpec": {"selectors": [{"keys": ["version"]}]}}},
        "status": {"statuses": {"gloo-system": {"reportedBy": "gloo", "state": "Accepted"}}},
    }


def _gloo_status() -> dict[str, Any]:
    return {"statuses": {"gloo-system": {"reportedBy": "gateway", "state": "Accepted",
                                         "subresourceStatuses": {}}}}


def routetable(namespace: str, number: int, index: int) -> dict[str, Any]:
    """rt-N sends 90/10 to two versions of Service N % 10 (never to v10), on two routes."""
    svc, first = number % SERVICES_PER_NS, 1 + (number // SERVICES_PER_NS) % (VERSIONS - 2)
    dest = {"upstream": {"name": upstream_name(namespace, svc), "namespace": UPSTREAM_NS}}
    action = {"multi": {"destinations": [
        {"destination": {**dest, "subset": {"values": {"version": f"v{first}"}}}, "weight": 90},
        {"destination": {**dest, "subset": {"values": {"version": f"v{first + 1}"}}}, "weight": 10}]}}
    return {
        "metadata": {**_meta(f"rt-{number}", namespace, index, "kubectl-canary", {"apiGroup": "example"}),
                     "annotations": {"canary.kubectl-canary.io/phase": "shift"}},
        "spec": {"routes": [
            {"matchers": [{"prefix": f"/{namespace}/rt-{number}/api"}], "routeAction": action},
            {"matchers": [{"prefix": f"/{namespace}/rt-{number}/web"}], "routeAction": action},
        ]},
        "namespacedStatuses": _gloo_status(),
    }


def cluster(namespaces: list[str], routetables: bool = True) -> dict[str, Callable[[], Iterator[dict[str, Any]]]]:
    """Generators of every object per kind (by Kind.kind), for the given namespaces."""
    def numbered(make: Callable[..., dict[str, Any]], per: Callable[[str], Iterator[tuple[int, ...]]]) -> Callable[
            [], Iterator[dict[str, Any]]]:
        def items() -> Iterator[dict[str, Any]]:
            index = 0
            for ns in namespaces:
                for args in per(ns):
                    index += 1
                    yield make(ns, *args, index)
        return items

    return {
        "Namespace": lambda: (
            {"metadata": _meta(ns, None, i, "kubectl", {"kubernetes.io/metadata.name": ns}),
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            for i, ns in enumerate([*namespaces, UPSTREAM_NS])),
        "Service": numbered(service, lambda ns: ((s,) for s in range(SERVICES_PER_NS))),
        "Upstream": numbered(upstream, lambda ns: ((s,) for s in range(SERVICES_PER_NS))),
        "Deployment": numbered(deployment, lambda ns: (
            (s, v) for s in range(SERVICES_PER_NS) for v in range(1, VERSIONS + 1))),
        "RouteTable": numbered(routetable, lambda ns: (
            (r,) for r in range(ROUTETABLES_PER_NS if routetables else 0))),
        "CanaryPolicy": lambda: iter(()),
    }


# ---- the webhook internals the bench touches: keep them here, in one place ---------------------------


def _response(doc: Any) -> Any:
    """What the kubernetes client returns with `_preload_content=False`: the body in `.data`."""
    return SimpleNamespace(data=json.dumps(doc).encode())


def _once(answer: Callable[..., Any]) -> Callable[..., Any]:
    """`answer`, encoded on its first call only: the caches do not change during the bench, and encoding
    is the API server's work, which a decision waits for but does not do (decoding is counted)."""
    answers: dict[tuple[Any, ...], Any] = {}

    def cached(self: Any, *args: Any, **_: Any) -> Any:
        if args not in answers:
            answers[args] = answer(self, *args)
        return answers[args]

    return cached


class CacheApi:
    """Stands in for the API server behind the lookup's fresh reads (CustomObjectsApi and CoreV1Api):
    answers them from the lookup's own caches, encoded as JSON as the API server would send them."""

    def __init__(self, lookup: Any) -> None:
        self.lookup = lookup

    def _watched(self, plural_or_kind: str) -> Any:
        return next(w for w in self.lookup.all if plural_or_kind in (w.kind.plural, w.kind.kind))

    def _get(self, kind: str, namespace: str, name: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        found = self._watched(kind).get(f"{namespace}/{name}" if namespace else name)
        if found is None:
            raise ApiException(status=404, reason="Not Found")
        return _response(found)

    @_once
    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                                     **_: Any) -> Any:
        return self._get(plural, namespace, name)

    @_once
    def list_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, **_: Any) -> Any:
        found = [o for o in self._watched(plural).cached() if o["metadata"].get("namespace") == namespace]
        return _response({"items": found, "metadata": {"resourceVersion": "1"}})

    @_once
    def list_cluster_custom_object(self, group: str, version: str, plural: str, **_: Any) -> Any:
        return _response({"items": self._watched(plural).cached(), "metadata": {"resourceVersion": "1"}})

    @_once
    def read_namespace(self, name: str, **_: Any) -> Any:
        return self._get("Namespace", "", name)

    @_once
    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        return self._get("Service", namespace, name)


def filled_lookup(objects: dict[str, Callable[[], Iterator[dict[str, Any]]]]) -> Any:
    """An InformerLookup whose informers listed `objects` through their own list path (`_initial_list`)."""
    from kubernetes import client

    from webhook.cluster.cache import InformerLookup

    lookup: Any = InformerLookup(client.ApiClient(client.Configuration()))  # its attributes are replaced below
    for watched in lookup.all:
        make = objects[watched.kind.kind]

        def list_all(make: Callable[[], Iterator[dict[str, Any]]] = make, **_: Any) -> Any:
            return _response({"items": list(make()), "metadata": {"resourceVersion": "1"}})

        watched.list_all = list_all
        watched.informer._initial_list()  # fills the cache and fires the event handlers, as a relist does
        watched.synced.set()  # what the first watch call would do
    api = CacheApi(lookup)
    lookup.custom = lookup.custom_direct = api  # the watch client and the one for fresh reads
    lookup.__dict__["core"] = lookup.__dict__["core_direct"] = api  # cached_properties
    lookup._started = True  # the informers' threads are not started: nothing would list or watch
    return lookup


def delete_review(namespace: str, name: str) -> bytes:
    """The AdmissionReview kube-apiserver sends for `kubectl delete deployment NAME -n NAMESPACE`."""
    service_number, version = name.removeprefix("svc-").split("-v")
    old = {"apiVersion": "apps/v1", "kind": "Deployment",
           **deployment(namespace, int(service_number), int(version), 1)}
    return json.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "00000000-0000-4000-8000-000000000001",
                    "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "namespace": namespace, "name": name, "operation": "DELETE", "oldObject": old},
    }).encode()


def decide_delete(lookup: Any, body: bytes) -> Any:
    """The validating decision for one AdmissionReview, made as the app makes it (`webhook.app.decide`)."""
    from webhook.admission import validation
    from webhook.admission.decision import Context, Settings
    from webhook.admission.review import parse
    from webhook.admission.rules import RULES
    from webhook.cluster.memo import Memo

    return validation.validate(Context(parse(body), Memo(lookup), Settings()), RULES.checks.values())


# ---- measuring (in a fresh subprocess) ---------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(lookup: Any, body: bytes, runs: int) -> tuple[float, str]:
    """Median milliseconds of `runs` decisions (after one warm-up), and the decision."""
    verdict = decide_delete(lookup, body)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        decide_delete(lookup, body)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, verdict.decision


def measure(runs: int) -> dict[str, Any]:
    import webhook.cluster.cache  # noqa: F401 (imported before the first RSS reading, so it is not counted)
    from webhook.admission import rules  # noqa: F401

    namespaces = [f"ns-{i:03d}" for i in range(NAMESPACES)]
    gc.collect()
    before = rss_bytes()
    began = time.perf_counter()
    lookup = filled_lookup(cluster(namespaces))
    fill_seconds = time.perf_counter() - began
    gc.collect()
    after = rss_bytes()
    counts = {w.kind.kind: len(w.cached()) for w in lookup.all}
    sizes = {w.kind.kind: len(json.dumps(w.cached()[:100])) // max(1, min(100, len(w.cached())))
             for w in lookup.all if w.cached()}
    # The baseline: the same cluster but RouteTables only in the deleted Deployment's namespace (100).
    small = filled_lookup({**cluster(namespaces, routetables=False),
                           "RouteTable": cluster([IN_USE[0]])["RouteTable"]})
    found: dict[str, Any] = {"before": before, "after": after, "fill_seconds": fill_seconds, "counts": counts,
                             "sizes": sizes, "runs": runs, "delete": {}}
    for label, (ns, name) in (("in use", IN_USE), ("unused", UNUSED)):
        body = delete_review(ns, name)
        found["delete"][label] = {
            "name": f"{ns}/{name}",
            "full": timed(lookup, body, runs),
            "small": timed(small, body, runs),
            "small_routetables": len(small.routetables()),
        }
    return found


def report(found: dict[str, Any]) -> None:
    mb = 1024 * 1024
    counts = ", ".join(f"{n:,} {kind}s" for kind, n in found["counts"].items() if n)
    sizes = ", ".join(f"{kind} {n:,} B" for kind, n in found["sizes"].items())
    print(f"cache: {counts}; filled through each informer's _initial_list() in {found['fill_seconds']:.1f} s")
    print(f"  mean JSON size per object as listed: {sizes}")
    cost = (found["after"] - found["before"]) / mb
    print(f"\n{'RSS':<44} {'baseline':>10} {'measured':>10} {'target':>10}")
    print(f"{'process before filling (imports, empty lookup)':<44} {'':>10} {found['before'] / mb:>7.0f} MB")
    print(f"{'the filled cache (after - before)':<44} {'':>10} {cost:>7.0f} MB {'< 300 MB':>10} "
          f"{'met' if cost < RSS_TARGET_MB else 'MISSED'}")
    print("\nDeployment DELETE decision (parse + validate with webhook.admission.rules.RULES), "
          f"median of {found['runs']} runs;")
    print("  fresh reads (fresh=True) are answered from the cache by a stub API (no API server, no network)")
    print(f"{'deployment':<28} {'decision':>9} {'baseline ms':>12} {'10k RTs ms':>11} {'ratio':>7} {'target':>8}")
    for label, row in found["delete"].items():
        (full, decision), (small, _) = row["full"], row["small"]
        print(f"{row['name'] + ' (' + label + ')':<28} {decision:>9} {small:>12.2f} {full:>11.2f} "
              f"{full / small:>6.1f}x {'< 5 ms':>8} {'met' if full < DELETE_TARGET_MS else 'MISSED'}")
    print(f"  baseline: the same decision with only the {row['small_routetables']} RouteTables of that namespace "
          "cached")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="decisions timed per cell")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        json.dump(measure(args.runs), sys.stdout)
        return
    # A fresh interpreter: its RSS holds nothing but the imports and the cache.
    child = subprocess.run([sys.executable, __file__, "--child", "--runs", str(args.runs)],
                           stdout=subprocess.PIPE, check=True)
    report(json.loads(child.stdout))


if __name__ == "__main__":
    main()
