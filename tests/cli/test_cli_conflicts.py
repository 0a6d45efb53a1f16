"""Another writer between the plugin's read and its write: the write, conditional on the resourceVersion
it read, is refused; the command reads again and plans anew, so the other edit is kept, and after three
such refusals in a row it stops with a clear error, nothing lost."""

from __future__ import annotations

from conftest import service_objects

from kubectl_canary.core.kinds import Obj, ObjectRef
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store.memory import MemoryStore

RT = ObjectRef("RouteTable", "echo", "echo-routes")
HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))


class Racing(MemoryStore):
    """A store where another writer edits the RouteTable just before each of the plugin's first `times`
    writes of it (as `kubectl edit` would: a new option on the route, and a new resourceVersion)."""

    def __init__(self, times: int) -> None:
        objs = service_objects(HEADER, {"v1": "primary", "v2": "canary"})
        for obj in objs:
            obj["metadata"]["resourceVersion"] = "10"
            obj.setdefault("status", {"readyReplicas": 1})
        super().__init__(objs, default_namespace="echo")
        self.times = times

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        if ObjectRef.of(obj) == RT and self.times > 0:
            self.times -= 1
            current = self.objects[RT]
            current["spec"]["routes"][-1]["options"] = {"timeout": f"{self.times}s"}
            current["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
        return super().apply(obj, dry_run)


def test_a_write_that_meets_another_writers_edit_reads_again_and_keeps_it(run):
    store = Racing(times=1)
    result = run("shift", "echo", "--weight", "30", store=store)
    assert result.exit_code == 0, result.output
    assert "changed since it was read" in result.stderr and "reading it again" in result.stderr
    main = store.objects[RT]["spec"]["routes"][-1]
    assert main["options"] == {"timeout": "0s"}  # the other writer's edit
    assert [d["weight"] for d in main["routeAction"]["multi"]["destinations"]] == [70, 30]  # and ours


def test_a_writer_that_keeps_coming_between_stops_the_command_after_three_tries(run):
    store = Racing(times=3)
    result = run("shift", "echo", "--weight", "30", store=store)
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("it changed again on each of 3 tries: run the command again")
    assert store.objects[RT]["metadata"]["annotations"]["kubectl-canary.io/weight"] == "0"  # nothing of ours
    assert store.objects[RT]["spec"]["routes"][-1]["options"] == {"timeout": "0s"}  # theirs, kept
