"""A canary without a ready pod: `start` waits for one on a cluster and says when none comes; `shift` gives
it no weighted traffic there unless --force; a directory (no pods run) is never gated."""

from __future__ import annotations

from conftest import service_objects

from kubectl_canary.cli.env import Env
from kubectl_canary.core.kinds import ObjectRef
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store.memory import MemoryStore

HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))
V2 = ObjectRef("Deployment", "echo", "echo-v2")


def _store(state: RouteState, roles: dict, ready: dict[str, int], live: bool = True) -> MemoryStore:
    objs = service_objects(state, roles)
    for obj in objs:
        version = obj["metadata"]["name"].removeprefix("echo-")
        if obj["kind"] == "Deployment":
            obj["status"] = {"readyReplicas": ready.get(version, 0)}
    return MemoryStore(objs, default_namespace="echo", live=live)


def _weight(store: MemoryStore) -> str:
    return store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]["metadata"]["annotations"].get(
        "kubectl-canary.io/weight", "-")


def test_shift_refuses_an_unready_canary_on_a_cluster_and_force_overrides(run):
    store = _store(HEADER, {"v1": "primary", "v2": "canary"}, {"v1": 1})
    refused = run("shift", "echo", "--weight", "50", store=store)
    assert refused.exit_code == 1 and _weight(store) == "0"
    assert refused.stderr.startswith("error: canary v2 of service echo in namespace echo has 0 of 1 pods ready "
                                     "(Deployment echo-v2), so it gets no weighted traffic")
    assert run("shift", "echo", "--weight", "0", store=store).exit_code == 0  # no weighted share: allowed
    assert run("shift", "echo", "--weight", "50", "--force", store=store).exit_code == 0 and _weight(store) == "50"


def test_shift_to_a_ready_canary_and_in_a_directory_is_not_gated(run):
    ready = _store(HEADER, {"v1": "primary", "v2": "canary"}, {"v1": 1, "v2": 1})
    assert run("shift", "echo", "--weight", "50", store=ready).exit_code == 0 and _weight(ready) == "50"
    files = _store(HEADER, {"v1": "primary", "v2": "canary"}, {}, live=False)
    assert run("shift", "echo", "--weight", "50", store=files).exit_code == 0 and _weight(files) == "50"


def test_start_waits_for_a_ready_canary_pod(run):
    store = _store(RouteState("v1"), {"v1": "primary"}, {"v1": 1})
    sleeps: list[float] = []

    def kubelet(seconds: float) -> None:  # the canary's pod turns ready while start waits
        sleeps.append(seconds)
        store.objects[V2]["status"] = {"readyReplicas": 1}

    result = run("start", "echo", "--version", "v2", env=Env(store_factory=lambda _o: store, sleep=kubelet))
    assert result.exit_code == 0, result.output
    assert "waiting for canary v2: 0 of 1 pods ready" in result.stderr and sleeps == [1.0]


def test_start_says_when_no_canary_pod_becomes_ready(run):
    store = _store(RouteState("v1"), {"v1": "primary"}, {"v1": 1})
    clock = iter(float(t) for t in range(100))
    env = Env(store_factory=lambda _o: store, sleep=lambda _s: None, clock=lambda: next(clock))
    result = run("start", "echo", "--version", "v2", "--timeout", "5", env=env)
    assert result.exit_code == 1
    assert "error: canary v2 of service echo in namespace echo has 0 of 1 pods ready after 5s: header-matched " \
           "requests go to the other versions until one is" in result.stderr
    assert store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]["metadata"]["annotations"][
        "kubectl-canary.io/phase"] == "header"  # the routes are in place; only the wait failed
