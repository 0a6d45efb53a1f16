"""What our webhooks add to a RouteTable CREATE through a real kube-apiserver.

Starts the e2e control plane (tests/e2e/controlplane.py: etcd, kube-apiserver, controllers, with the
Gloo CRDs and our CanaryPolicy CRD installed) and `canary-webhook serve` as the e2e tests run it
(tests/e2e/webhook.py; with the allow-all `/allow` of `baseline_server.py` beside the shipped endpoints),
and registers the shipped webhook configurations (deploy/base, loopback URL)
with one change: every webhook's namespaceSelector also requires the label `canary-bench=webhooked`,
which only one of two namespaces carries. Both namespaces hold the same Upstream, Service and
Deployments, so each RouteTable is valid (it routes to versions that exist) and the webhooks do their
full work on it: /mutate normalises its weights 1,3 to 25,75, /validate checks every destination.

Then `--creates` RouteTables (10 routes) are created in each namespace, alternating between them,
through the kubernetes Python client (`CustomObjectsApi.create_namespaced_custom_object`, one
keep-alive connection pool), and the median and p90 of each are printed with their ratio, next to
the issue's target (with webhooks at most 1.3x without). A fourth namespace has a single allow-all
validating webhook for RouteTables and nothing else: the least any admission guard costs here. The
stored weights show which creates the webhooks saw. It prints, it asserts nothing. It must run inside
the e2e network namespace:

    bash tests/e2e/netns.sh .venv/bin/python benchmarks/apiserver_create.py [--creates 200]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The root first: on its own, tests/ would make tests/webhook/ stand in for the package `webhook`.
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import baseline_server  # noqa: E402
from e2e import tools  # noqa: E402
from e2e.controlplane import ControlPlane  # noqa: E402
from e2e.webhook import (  # noqa: E402
    WebhookProcess,
    loopback_configurations,
    shipped_configurations,
    unregister,
)

HOOKED, PLAIN, ALLOW, ONE = "bench-webhooked", "bench-plain", "bench-allow-all", "bench-allow-one"
LABEL = ("canary-bench", "webhooked")
ALLOW_LABEL = ("canary-bench", "allow-all")
ONE_LABEL = ("canary-bench", "allow-one")
SPACES = (HOOKED, PLAIN, ALLOW, ONE)
ROUTES = 10
WARMUP = 10
TARGET = 1.3
GROUP, VERSION, PLURAL = "gateway.solo.io", "v1", "routetables"


def namespace(name: str) -> dict[str, Any]:
    label = {HOOKED: LABEL, ALLOW: ALLOW_LABEL, ONE: ONE_LABEL}.get(name)
    labels = dict([label]) if label else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def backend(ns: str) -> list[dict[str, Any]]:
    """The Upstream `echo` with a version subset, its Service and a Deployment per version (0 replicas:
    the webhook reads the pod template's labels; no pod needs to run)."""
    labels = {"app": "echo"}
    upstream = {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "metadata": {"name": "echo", "namespace": ns},
                "spec": {"kube": {"selector": labels, "serviceName": "echo", "serviceNamespace": ns,
                                  "servicePort": 8080, "subsetSpec": {"selectors": [{"keys": ["version"]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": ns},
               "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}}
    deployments = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"echo-{v}", "namespace": ns},
         "spec": {"replicas": 0, "selector": {"matchLabels": {**labels, "version": v}},
                  "template": {"metadata": {"labels": {**labels, "version": v}},
                               "spec": {"containers": [{"name": "echo", "image": "echo:latest"}]}}}}
        for v in ("v1", "v2")
    ]
    return [upstream, service, *deployments]


def routetable(ns: str, name: str) -> dict[str, Any]:
    def dest(version: str, weight: int) -> dict[str, Any]:
        return {"destination": {"upstream": {"name": "echo", "namespace": ns},
                                "subset": {"values": {"version": version}}}, "weight": weight}

    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "RouteTable",
        "metadata": {"name": name, "namespace": ns, "labels": {"apiGroup": "example"}},
        "spec": {"routes": [{"matchers": [{"prefix": f"/{name}/{i}"}],
                             "routeAction": {"multi": {"destinations": [dest("v1", 1), dest("v2", 3)]}}}
                            for i in range(ROUTES)]},
    }


def selected_configurations(cp: ControlPlane, hook: WebhookProcess) -> list[dict[str, Any]]:
    """The shipped configurations on the loopback URL, each webhook also selecting `LABEL` namespaces."""
    configs = copy.deepcopy(loopback_configurations(shipped_configurations(cp), hook.url, hook.ca_bundle))
    # The same webhooks again, calling the allow-all endpoint on the same server for ALLOW: what calling
    # any webhook on this stack costs, next to what ours cost.
    allow_all = copy.deepcopy(configs)
    for config in allow_all:
        config["metadata"]["name"] += "-allow-all"
        for webhook in config["webhooks"]:
            webhook["name"] = "allow-all." + webhook["name"]
            webhook["clientConfig"]["url"] = webhook["clientConfig"]["url"].rsplit("/", 1)[0] + "/allow"
    # And the least any guard costs: one allow-all validating webhook for RouteTables, nothing else (ONE).
    one = [copy.deepcopy(c) for c in allow_all if c["kind"] == "ValidatingWebhookConfiguration"]
    for config in one:
        config["metadata"]["name"] = config["metadata"]["name"].replace("-allow-all", "-allow-one")
        config["webhooks"] = [w for w in config["webhooks"]
                              if any("routetables" in rule.get("resources", []) for rule in w.get("rules", []))]
        for webhook in config["webhooks"]:
            webhook["name"] = webhook["name"].replace("allow-all.", "allow-one.")
    for found, label in ((configs, LABEL), (allow_all, ALLOW_LABEL), (one, ONE_LABEL)):
        for config in found:
            for webhook in config["webhooks"]:
                webhook.setdefault("namespaceSelector", {}).setdefault("matchLabels", {})[label[0]] = label[1]
    return configs + allow_all + one


def register(cp: ControlPlane, hook: WebhookProcess, timeout: float = 60.0) -> None:
    """Apply the configurations and wait until kube-apiserver calls both webhooks for HOOKED (a server
    dry run of a valid RouteTable comes back normalised) and neither for PLAIN."""
    configs = selected_configurations(cp, hook)
    cp.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": configs}))
    deadline = time.monotonic() + timeout
    while True:
        probes = {ns: cp.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", check=False,
                                 input=json.dumps(routetable(ns, "bench-probe"))) for ns in (HOOKED, PLAIN, ALLOW)}
        weights = {ns: first_weights(json.loads(p.stdout)) if p.returncode == 0 else p.stderr
                   for ns, p in probes.items() if ns != ALLOW}
        if weights == {HOOKED: (25, 75), PLAIN: (1, 3)} and allowed_all(hook):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the webhooks are not called as configured after {timeout}s: {weights}\n"
                             f"{hook.log_tail()}")
        time.sleep(0.3)


def allowed_all(hook: WebhookProcess) -> bool:
    """Whether kube-apiserver has called the allow-all endpoint (for the namespace ALLOW)."""
    return '"endpoint":"allow"' in hook.log.read_text(encoding="utf-8", errors="replace")


def first_weights(rt: dict[str, Any]) -> tuple[int, ...]:
    return tuple(d["weight"] for d in rt["spec"]["routes"][0]["routeAction"]["multi"]["destinations"])


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(cp: ControlPlane, creates: int) -> tuple[dict[str, list[float]], dict[str, set[tuple[int, ...]]]]:
    """Creates alternating between the namespaces (after WARMUP each, untimed); seconds per create, and
    the weights each namespace stored."""
    from kubernetes import client
    from kubernetes import config as kube_config

    config: Any = kube_config  # not annotated
    api: Any = client.CustomObjectsApi(config.new_client_from_config(config_file=str(cp.kubeconfig)))
    times: dict[str, list[float]] = {ns: [] for ns in SPACES}
    stored: dict[str, set[tuple[int, ...]]] = {ns: set() for ns in SPACES}
    # Each round starts with the next namespace, so none is always first after a pause.
    orders = [SPACES[k:] + SPACES[:k] for k in range(len(SPACES))]
    for i in range(WARMUP + creates):
        for ns in orders[i % len(orders)]:
            body = routetable(ns, f"rt-{i}")
            began = time.perf_counter()
            created = api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
            took = time.perf_counter() - began
            if i >= WARMUP:
                times[ns].append(took)
                stored[ns].add(first_weights(created))
    return times, stored


def decision_times(log: Path, skip: int) -> dict[str, list[float]]:
    """The webhook's own time per request (`durationMs` of its JSON log lines after the first `skip` lines),
    by endpoint: what the webhook adds itself, the rest of the difference being TLS, HTTP and kube-apiserver."""
    found: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines()[skip:]:
        try:
            entry = json.loads(line[line.index("{"):])
        except ValueError:
            continue
        if isinstance(entry, dict) and "durationMs" in entry and entry.get("endpoint"):
            found.setdefault(str(entry["endpoint"]), []).append(float(entry["durationMs"]))
    return {k: v for k, v in found.items() if len(v) > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200, help="timed creates per namespace")
    args = parser.parse_args()
    tools.ensure_built()
    with ControlPlane() as cp:
        cp.install_crds([tools.gloo_crds_dir(), REPO / "deploy" / "base" / "crd-canarypolicy.yaml"])
        objects = [namespace(ns) for ns in SPACES] + [o for ns in SPACES for o in backend(ns)]
        cp.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        with WebhookProcess(cp.kubeconfig, default_api_group="example", command=baseline_server.command()) as hook:
            register(cp, hook)
            try:
                skip = sum(1 for _ in hook.log.open(encoding="utf-8", errors="replace"))
                times, stored = measure(cp, args.creates)
                inside = decision_times(hook.log, skip)
            finally:
                unregister(cp)
    hooked, plain, allow, one = times[HOOKED], times[PLAIN], times[ALLOW], times[ONE]
    print(f"RouteTable CREATE ({ROUTES} routes, weights 1,3) through a real kube-apiserver, "
          f"CustomObjectsApi over keep-alive; {len(hooked)} creates per namespace after {WARMUP} untimed, "
          f"alternating; webhook: canary-webhook serve (as the e2e tests run it), shipped configurations")
    print(f"{'namespace':<44} {'creates':>8} {'median ms':>10} {'p90 ms':>8} {'stored weights':>15}")
    rows = (("without webhooks (baseline)", PLAIN, plain), ("one allow-all validating webhook", ONE, one),
            ("allow-all webhooks, same stack", ALLOW, allow), ("with our webhooks", HOOKED, hooked))
    for label, ns, values in rows:
        weights = " ".join("/".join(map(str, w)) for w in sorted(stored[ns]))
        print(f"{label + ' (' + ns + ')':<44} {len(values):>8} {statistics.median(values) * 1000:>10.2f} "
              f"{percentile(values, 90) * 1000:>8.2f} {weights:>15}")
    for endpoint, found in sorted(inside.items()):
        print(f"  inside the webhook, /{endpoint} (its log's durationMs, {len(found)} requests): median "
              f"{statistics.median(found):.2f} ms, p90 {percentile(found, 90):.2f} ms")
    ratio = statistics.median(hooked) / statistics.median(plain)
    p90 = percentile(hooked, 90) / percentile(plain, 90)
    print(f"ratio with/without: median {ratio:.2f}x (target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'}), "
          f"p90 {p90:.2f}x")
    print(f"allow-all/without: median {statistics.median(allow) / statistics.median(plain):.2f}x (any two webhooks on "
          f"this stack); ours/allow-all: median {statistics.median(hooked) / statistics.median(allow):.2f}x")
    print(f"one allow-all validating webhook/without: median {statistics.median(one) / statistics.median(plain):.2f}x "
          "(the least that calling any webhook on a RouteTable CREATE costs)")


if __name__ == "__main__":
    main()
