"""What `status` says of the data path on a store where controllers run (a live MemoryStore), its exit
code, and the drain that `finish` and `abort` wait before deleting a Deployment."""

from __future__ import annotations

import json

from conftest import accepted, data_path, service_objects

from kubectl_canary.cli.env import Env
from kubectl_canary.core.kinds import ObjectRef
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store.memory import MemoryStore

WEIGHTED = RouteState("v1", "v2", 50, (("stage", "canary"),))
RT = ObjectRef("RouteTable", "echo", "echo-routes")


def live(ready: dict[str, int], state: RouteState = WEIGHTED) -> MemoryStore:
    svc, up, rt, *deployments = service_objects(state, {"v1": "primary", "v2": "canary"})
    return MemoryStore([svc, accepted(up), accepted(rt), *deployments, *data_path(ready)],
                       default_namespace="echo", live=True)


def test_a_healthy_service_exits_0_and_shows_gloo_and_endpoints(run):
    result = run("status", "echo", store=live({"v1": 1, "v2": 2}))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Gloo:        RouteTable echo/echo-routes: Accepted" in lines
    assert "             VirtualService gloo-system/app: Accepted" in lines
    assert lines[lines.index("Problems:    none") - 1] == "Drift:       none"
    assert any(line.split()[:2] == ["v2", "canary"] and line.split()[-1] == "2" for line in lines), lines


def test_a_version_without_ready_endpoints_is_a_problem_exit_1(run):
    result = run("status", "echo", "-o", "json", store=live({"v1": 1}))
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert shown["problems"] == ["v2: 0 ready endpoints; Gloo's subset fallback sends its requests to the other "
                                 "versions"]
    assert {v["version"]: v["readyEndpoints"] for v in shown["versions"]} == {"v1": 1, "v2": 0}


def test_status_in_a_directory_has_no_data_path_and_exits_0(run, tmp_path):
    assert run("init", "echo", "--version", "v1", "--files", str(tmp_path)).exit_code == 0
    result = run("status", "echo", "--files", str(tmp_path), "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["gloo"] is None
    assert "Problems" not in run("status", "echo", "--files", str(tmp_path)).stdout


def test_finish_waits_the_drain_delay_between_moving_traffic_and_deleting(run):
    store, slept = live({"v1": 1, "v2": 1}), []

    def sleep(seconds: float) -> None:
        # The traffic has moved before the wait: the RouteTable is written, echo-v1 still exists.
        assert ("apply", RT) in store.calls
        assert ("delete", ObjectRef("Deployment", "echo", "echo-v1")) not in store.calls
        slept.append(seconds)

    env = Env(store_factory=lambda _options: store, sleep=sleep)
    result = run("finish", "echo", "--drain-delay", "2", env=env)
    assert result.exit_code == 0, result.output
    assert slept == [2.0]
    assert "waiting 2s for the gateway to stop sending traffic" in result.stderr
    assert ObjectRef("Deployment", "echo", "echo-v1") not in store.objects


def test_a_routetable_gloo_rejects_stops_finish_before_any_delete(run):
    store = live({"v1": 1, "v2": 1})

    def reject(_seconds: float) -> None:
        store.objects[RT] = accepted(store.objects[RT], "Rejected", "subset not found")

    env = Env(store_factory=lambda _options: store, sleep=reject)
    result = run("finish", "echo", "--drain-delay", "1", env=env)
    assert result.exit_code == 1
    assert "Gloo rejected RouteTable echo/echo-routes (subset not found)" in result.stderr
    assert "no Deployment was deleted" in result.stderr
    assert ObjectRef("Deployment", "echo", "echo-v1") in store.objects


def test_no_drain_without_deletes_or_with_delay_0(run):
    slept: list[float] = []
    env = Env(store_factory=lambda _options: live({"v1": 1, "v2": 1}), sleep=slept.append)
    assert run("abort", "echo", env=env).exit_code == 0  # keeps the canary: nothing to delete
    assert run("finish", "echo", "--drain-delay", "0", env=env).exit_code == 0
    assert slept == []


def test_a_data_path_the_user_may_not_read_is_a_problem_not_an_error(run):
    store = live({"v1": 1, "v2": 1})
    store.fail_on = {("list", ObjectRef("Pod", "echo", ""))}  # e.g. a user who may not list Pods
    result = run("status", "echo", "-o", "json", store=store)
    assert result.exit_code == 1 and result.stdout, result.output
    shown = json.loads(result.stdout)
    assert shown["phase"] == "weighted"
    assert shown["problems"][0].startswith("cannot tell what the data path does: "), shown["problems"]


class Clock:
    """A clock that only moves when the command sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_status_timeout_exits_0_once_healthy(run):
    store, clock = live({"v1": 1}), Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 4:  # v2's pod becomes a ready endpoint
            store.objects.update((ObjectRef.of(o), o) for o in data_path({"v1": 1, "v2": 1}))

    env = Env(store_factory=lambda _options: store, sleep=sleep, clock=clock, watch_interval=2.0)
    result = run("status", "echo", "--timeout", "60", env=env)
    assert result.exit_code == 0, result.output
    assert clock.now == 4.0
    assert result.stdout.count("Problems:") == 2 and result.stdout.rstrip().endswith("Problems:    none")


def test_status_timeout_exits_1_naming_what_is_still_wrong(run):
    clock = Clock()
    env = Env(store_factory=lambda _options: live({"v1": 1}), sleep=clock.sleep, clock=clock, watch_interval=2.0)
    result = run("status", "echo", "--timeout", "5", env=env)
    assert result.exit_code == 1
    assert clock.now == 5.0  # the last wait is cut to what is left
    assert result.stderr == ("error: timed out after 5s waiting for service echo in namespace echo to be healthy: "
                             "v2: 0 ready endpoints; Gloo's subset fallback sends its requests to the other versions\n")
