"""MemoryStore (the fake cluster), reading a snapshot, and executing a plan: order, outcomes, dry runs
and the PartialWrite that names what was already written."""

from __future__ import annotations

import pytest
from conftest import service_objects

from kubectl_canary.core.errors import ClusterError, PartialWrite
from kubectl_canary.core.kinds import DEPLOYMENT, SERVICE, ObjectRef
from kubectl_canary.core.plan import Plan, plan_finish
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store import execute, read_snapshot
from kubectl_canary.store.memory import MemoryStore

WEIGHTED = RouteState("v1", "v2", 50, (("stage", "canary"),))
V1 = ObjectRef("Deployment", "echo", "echo-v1")


def test_memory_store_keeps_objects_and_records_calls():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary"}))
    assert store.get(SERVICE, "echo", "echo")["kind"] == "Service"
    assert [o["metadata"]["name"] for o in store.list(DEPLOYMENT, "echo")] == ["echo-v1"]
    assert store.delete(V1, dry_run=True) is True and store.get(DEPLOYMENT, "echo", "echo-v1") is not None
    assert store.delete(V1, dry_run=False) is True and store.delete(V1, dry_run=False) is False
    assert store.calls[0] == ("get", ObjectRef("Service", "echo", "echo"))
    assert ("list", ObjectRef("Deployment", "echo", "")) in store.calls


@pytest.mark.parametrize(
    ("fail_on", "call"),
    [(("delete", V1), lambda s: s.delete(V1, False)), ({("apply", None)}, lambda s: s.apply({"kind": "X"}, False)),
     (("list", None), lambda s: s.list(DEPLOYMENT, None))],
)
def test_memory_store_fails_the_chosen_call(fail_on, call):
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary"}), fail_on=fail_on)
    with pytest.raises(ClusterError, match="injected failure"):
        call(store)


def test_read_snapshot_reads_the_service_and_never_needs_the_namespace():
    objs = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    store = MemoryStore(objs, fail_on=("get", ObjectRef("Namespace", "", "echo")))
    snap = read_snapshot(store, "echo", "echo")
    assert snap.routetable is not None and list(snap.deployments) == ["v1", "v2"]
    assert not any(call[0] == "get" and call[1].kind == "Namespace" for call in store.calls)


def test_execute_applies_then_deletes_in_order_with_outcomes():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}))
    seen = []
    outcomes = execute(store, plan_finish(read_snapshot(store, "echo", "echo")), on_outcome=seen.append)
    assert [(str(o.ref), o.action) for o in outcomes] == [
        ("RouteTable echo/echo-routes", "configured"), ("Deployment echo/echo-v2", "configured"),
        ("Deployment echo/echo-v1", "deleted")]
    assert seen == outcomes
    assert [c for c in store.calls if c[0] in ("apply", "delete")] == [
        ("apply", ObjectRef("RouteTable", "echo", "echo-routes")),
        ("apply", ObjectRef("Deployment", "echo", "echo-v2")),
        ("delete", V1),
    ]


def test_execute_reports_created_and_unchanged():
    obj = service_objects(WEIGHTED, {})[0]
    store = MemoryStore()
    assert execute(store, Plan((obj,)))[0].action == "created"
    assert execute(store, Plan((obj,)))[0].action == "unchanged"


@pytest.mark.parametrize("dry_run", ["client", "server"])
def test_dry_runs_write_nothing(dry_run):
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}))
    before = dict(store.objects)
    outcomes = execute(store, plan_finish(read_snapshot(store, "echo", "echo")), dry_run)
    assert [o.action for o in outcomes] == ["configured", "configured", "deleted"]
    assert store.objects == before
    applied = [c for c in store.calls if c[0] in ("apply", "delete")]
    assert applied == [] if dry_run == "client" else len(applied) == 3


def test_a_failure_after_writes_is_a_partial_write_naming_what_was_done():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}), fail_on=("delete", V1))
    with pytest.raises(PartialWrite) as err:
        execute(store, plan_finish(read_snapshot(store, "echo", "echo")))
    assert str(err.value) == (
        "RouteTable echo/echo-routes configured, Deployment echo/echo-v2 configured; then delete Deployment "
        "echo/echo-v1 failed: injected failure: cannot delete Deployment echo/echo-v1; "
        "re-run the same command to complete it"
    )
    store.fail_on.clear()
    outcomes = execute(store, plan_finish(read_snapshot(store, "echo", "echo")))
    assert [(str(o.ref), o.action) for o in outcomes][-1] == ("Deployment echo/echo-v1", "deleted")


def test_a_failure_before_any_write_is_the_original_error():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}), fail_on=("apply", None))
    with pytest.raises(ClusterError, match="injected failure: cannot apply RouteTable echo/echo-routes"):
        execute(store, plan_finish(read_snapshot(store, "echo", "echo")))


def test_a_server_dry_run_refusal_after_earlier_steps_says_they_were_not_stored():
    # dryRun=All stores nothing, so the server judges the delete without the RouteTable write above it.
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}), fail_on=("delete", V1))
    with pytest.raises(ClusterError) as err:
        execute(store, plan_finish(read_snapshot(store, "echo", "echo")), "server")
    message = str(err.value)
    assert message.startswith("injected failure: cannot delete Deployment echo/echo-v1; note: a server dry run")
    assert "without the 2 earlier step(s) of this command (RouteTable echo/echo-routes, Deployment echo/echo-v2)" in (
        message
    )
    assert "\n" not in message


@pytest.mark.parametrize("dry_run", ["client", "server", "none"])
def test_deleting_a_deployment_that_does_not_exist_is_already_gone_in_every_mode(dry_run):
    store = MemoryStore(service_objects(WEIGHTED, {"v2": "canary"}))
    assert [o.action for o in execute(store, Plan(deletes=(V1,)), dry_run)] == ["already gone"]


def test_a_client_dry_run_of_a_delete_reads_and_never_deletes():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary"}))
    assert [o.action for o in execute(store, Plan(deletes=(V1,)), "client")] == ["deleted"]
    assert ("get", V1) in store.calls and not any(c[0] == "delete" for c in store.calls)


@pytest.mark.parametrize("dry_run", ["none", "client", "server"])
def test_objects_the_snapshot_read_are_not_read_again(dry_run):
    # On a cluster every read is a request: executing a plan asks only for objects the snapshot lacks.
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}))
    snap = read_snapshot(store, "echo", "echo")
    store.calls.clear()
    outcomes = execute(store, plan_finish(snap), dry_run, known=snap.read_objects())
    assert [o.action for o in outcomes] == ["configured", "configured", "deleted"]
    assert [verb for verb, _ in store.calls if verb in ("get", "list")] == []


def test_without_what_the_snapshot_read_each_step_reads_its_object():
    store = MemoryStore(service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}))
    snap = read_snapshot(store, "echo", "echo")
    store.calls.clear()
    execute(store, plan_finish(snap), "client")
    assert [str(ref) for verb, ref in store.calls if verb == "get"] == [
        "RouteTable echo/echo-routes", "Deployment echo/echo-v2", "Deployment echo/echo-v1",
    ]
