"""`kubectl canary adopt` at the edge: in a directory it writes the first step and says to run it again;
on a cluster it waits for the relabelled rollout and then moves the routes; afterwards the ordinary
commands work on the adopted service, whose Deployment keeps its name."""

from __future__ import annotations

import yaml
from core.test_adopt import deployment, routetable, service, upstream

from cli.conftest import objects_in
from kubectl_canary.cli.env import Env
from kubectl_canary.core import names
from kubectl_canary.core.kinds import ObjectRef
from kubectl_canary.store.memory import MemoryStore


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def _write(root, *objs):
    (root / "app.yaml").write_text(yaml.safe_dump_all(list(objs), sort_keys=False))


def test_adopt_in_a_directory_takes_two_runs_and_then_the_rollout_works(run, tmp_path):
    _write(tmp_path, service(), deployment(), upstream(), routetable())
    first = ok(run("adopt", "shop", "--version", "v1", "-n", "shop", "--files", str(tmp_path)))
    assert "run `kubectl canary adopt shop --version v1` again to move the routes" in first.stderr
    found = objects_in(tmp_path)
    assert found["Deployment/shop/shop"]["spec"]["template"]["metadata"]["labels"]["version"] == "v1"
    assert found["RouteTable/shop/storefront"]["spec"] == routetable()["spec"]  # not yet

    ok(run("adopt", "shop", "--version", "v1", "-n", "shop", "--files", str(tmp_path)))
    found = objects_in(tmp_path)
    route = found["RouteTable/shop/storefront"]["spec"]["routes"][1]
    assert route["routeAction"]["single"]["subset"] == {"values": {"version": "v1"}}
    assert route["options"] == {"timeout": "5s"}

    ok(run("start", "shop", "--version", "v2", "--image", "podinfo:6.9.3", "-n", "shop", "--files", str(tmp_path)))
    ok(run("shift", "shop", "--weight", "30", "-n", "shop", "--files", str(tmp_path)))
    found = objects_in(tmp_path)
    canary = found["Deployment/shop/shop-v2"]
    assert canary["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "shop", "version": "v2"}
    assert canary["spec"]["template"]["spec"]["containers"] == [{"name": "podinfo", "image": "podinfo:6.9.3"}]
    status = ok(run("status", "shop", "-n", "shop", "--files", str(tmp_path), "-o", "json")).stdout
    assert '"phase": "weighted"' in status and '"deployment": "shop"' in status

    ok(run("finish", "shop", "-n", "shop", "--files", str(tmp_path)))
    found = objects_in(tmp_path)
    assert "Deployment/shop/shop" not in found and "Deployment/shop/shop-v2" in found
    assert found["RouteTable/shop/storefront"]["spec"]["routes"][0] == routetable()["spec"]["routes"][0]


class Rollout:
    """Plays the Deployment controller and the kubelet while `adopt` waits: each sleep moves the rollout on."""

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.sleeps = store, 0

    def sleep(self, _seconds: float) -> None:
        self.sleeps += 1
        ref = ObjectRef("Deployment", "shop", "shop")
        dep = self.store.objects[ref]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        dep["metadata"]["generation"] = dep["status"]["observedGeneration"] = 2
        dep["status"].update(replicas=2, updatedReplicas=2, readyReplicas=2)
        for index in range(2):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"shop-{index}", "namespace": "shop", "labels": labels},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
            self.store.objects[ObjectRef.of(pod)] = pod


def test_adopt_on_a_cluster_waits_for_the_rollout_then_moves_the_routes(run):
    old_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shop-old", "namespace": "shop",
                                                               "labels": {"app.kubernetes.io/name": "shop"}},
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    running = deployment()
    running["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
    store = MemoryStore([service(), running, upstream(), routetable(), old_pod], default_namespace="shop", live=True)
    rollout = Rollout(store)

    def after_first_sleep(seconds: float) -> None:
        del store.objects[ObjectRef.of(old_pod)]
        rollout.sleep(seconds)

    env = Env(store_factory=lambda _options: store, sleep=after_first_sleep)
    result = ok(run("adopt", "shop", "--version", "v1", env=env))
    assert "waiting for the rollout: 1 of 1 ready pods lack version=v1" in result.stderr
    rt = store.objects[ObjectRef("RouteTable", "shop", "storefront")]
    assert rt["spec"]["routes"][1]["routeAction"]["single"]["subset"] == {"values": {"version": "v1"}}
    assert rt["metadata"]["annotations"][names.PRIMARY] == "v1"
    assert store.objects[ObjectRef("Deployment", "shop", "shop")]["metadata"]["uid"] == "u-1"  # not recreated
    writes = [ref.kind for verb, ref in store.calls if verb == "apply"]
    assert writes == ["Deployment", "Upstream", "RouteTable"]  # the routes last, after the rollout


def test_adopt_stops_at_its_timeout_without_moving_the_routes(run):
    store = MemoryStore([service(), deployment(), upstream(), routetable()], default_namespace="shop", live=True)
    clock = iter(range(0, 1000, 100))
    env = Env(store_factory=lambda _options: store, sleep=lambda _s: None, clock=lambda: float(next(clock)))
    result = run("adopt", "shop", "--version", "v1", "--timeout", "150", env=env)
    assert result.exit_code == 1 and "timed out waiting for the rollout" in result.stderr
    assert store.objects[ObjectRef("RouteTable", "shop", "storefront")]["spec"] == routetable()["spec"]
