"""The plans of init, start, shift, finish and abort: what they write and delete, in which order, and
the errors that stop them before anything is written."""

from __future__ import annotations

import pytest
from conftest import service_objects

from kubectl_canary.core import names, objects
from kubectl_canary.core.clone import Changes
from kubectl_canary.core.deployments import init_workload
from kubectl_canary.core.errors import NotFound, StateConflict, UnmanagedShape, UsageError
from kubectl_canary.core.kinds import ObjectRef, annotations_of
from kubectl_canary.core.objects import Workload
from kubectl_canary.core.plan import plan_abort, plan_finish, plan_init, plan_shift, plan_start
from kubectl_canary.core.routes import RouteState, recognise
from kubectl_canary.core.routetable import UpstreamRef
from kubectl_canary.core.snapshot import Snapshot, snapshot_of

STABLE = RouteState("v1")
HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))
WEIGHTED = RouteState("v1", "v2", 50, (("stage", "canary"),))


def snap(state: RouteState | None, roles: dict[str, str | None], api_group: str | None = "example") -> Snapshot:
    objs = service_objects(state or STABLE, roles, api_group=api_group)
    if state is None:
        objs = [o for o in objs if o["kind"] == "Deployment"]
    return snapshot_of("echo", "echo", objs)


def dep(version: str) -> ObjectRef:
    return ObjectRef("Deployment", "echo", f"echo-{version}")


def steps(plan) -> list[str]:
    """The plan as a readable sequence: `apply Deployment echo/echo-v2`, ..., `delete ...`."""
    return [f"apply {ObjectRef.of(o)}" for o in plan.writes] + [f"delete {r}" for r in plan.deletes]


def written(plan, kind: str, name: str):
    return next(o for o in plan.writes if o["kind"] == kind and o["metadata"]["name"] == name)


def state_of(plan) -> RouteState:
    return recognise(written(plan, "RouteTable", "echo-routes"), "echo", UpstreamRef("echo", "echo")).state


# init


def test_init_writes_the_four_objects_in_write_order():
    plan = plan_init(snap(None, {}), "v1", Workload(), "example")
    assert steps(plan) == ["apply Service echo/echo", "apply Deployment echo/echo-v1", "apply Upstream echo/echo",
                           "apply RouteTable echo/echo-routes"]
    assert state_of(plan) == STABLE
    assert annotations_of(written(plan, "Deployment", "echo-v1"))[names.ROLE] == "primary"
    assert written(plan, "RouteTable", "echo-routes")["metadata"]["labels"][names.API_GROUP] == "example"


def prefix_of(plan):
    """The path of the RouteTable's last route (the service's main route) in a plan."""
    return written(plan, "RouteTable", "echo-routes")["spec"]["routes"][-1]["matchers"][0]["prefix"]


@pytest.mark.parametrize(
    ("api_group", "prefix", "label", "expected_prefix"),
    [(None, None, None, "/echo"), ("team", "/api/echo", "team", "/api/echo")],
)
def test_init_options(api_group, prefix, label, expected_prefix):
    plan = plan_init(snap(None, {}), "v1", Workload(image="nginx", port=9000, replicas=3), api_group, prefix)
    rt = written(plan, "RouteTable", "echo-routes")
    assert rt["metadata"]["labels"].get(names.API_GROUP) == label
    assert prefix_of(plan) == expected_prefix
    deployment = written(plan, "Deployment", "echo-v1")
    assert deployment["spec"]["replicas"] == 3
    assert written(plan, "Service", "echo")["spec"]["ports"][0]["targetPort"] == 9000


def test_init_again_on_the_same_stable_version_writes_the_same_objects():
    first = plan_init(snap(None, {}), "v1", Workload(), "example")
    again = plan_init(snapshot_of("echo", "echo", first.writes), "v1", Workload(), None)
    assert again.writes == first.writes


CUSTOM = Workload(image="nginx:1.27", args=("--flag",), port=9000, replicas=3)


@pytest.mark.parametrize(
    ("existing", "flags", "expected"),
    [
        (None, {}, Workload()),
        (None, {"image": "nginx"}, Workload("nginx", (), 8080, 1)),
        (CUSTOM, {}, CUSTOM),
        (CUSTOM, {"replicas": 0}, Workload("nginx:1.27", ("--flag",), 9000, 0)),
        (CUSTOM, {"image": "nginx:1.28"}, Workload("nginx:1.28", (), 9000, 3)),
        (CUSTOM, {"image": names.DEFAULT_IMAGE}, Workload(names.DEFAULT_IMAGE, None, 9000, 3)),
        (Workload(), {"port": 9090}, Workload(names.DEFAULT_IMAGE, None, 9090, 1)),
    ],
)
def test_init_keeps_the_existing_workload_unless_a_flag_changes_it(existing, flags, expected):
    objs = service_objects(STABLE, {})
    if existing is not None:
        objs.append(objects.deployment("echo", "echo", "v1", existing, "primary"))
    assert init_workload(snapshot_of("echo", "echo", objs), "v1", **flags) == expected


def test_init_again_keeps_a_custom_image():
    first = plan_init(snap(None, {}), "v1", Workload(image="nginx"), "example")
    current = snapshot_of("echo", "echo", first.writes)
    again = plan_init(current, "v1", init_workload(current, "v1"), None)
    assert again.writes == first.writes
    assert written(again, "Deployment", "echo-v1")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


@pytest.mark.parametrize(
    ("state", "version", "error", "message"),
    [
        (STABLE, "v2", StateConflict, "service echo already exists in namespace echo (phase stable, primary v1)"),
        (HEADER, "v1", StateConflict, "canary v2 at weight 0"),
    ],
)
def test_init_on_an_existing_service_is_a_conflict(state, version, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_init(snap(state, {"v1": "primary"}), version, Workload())


@pytest.mark.parametrize(
    ("version", "api_group", "message"),
    [("V1", None, "invalid version"), ("v1", "bad group", "invalid --api-group")],
)
def test_init_validates_its_input(version, api_group, message):
    with pytest.raises(UsageError, match=message):
        plan_init(snap(None, {}), version, Workload(), api_group)


# start


def test_start_writes_the_deployment_before_the_route():
    plan = plan_start(snap(STABLE, {"v1": "primary"}), "v2")
    assert steps(plan) == ["apply Deployment echo/echo-v2", "apply RouteTable echo/echo-routes"]
    assert state_of(plan) == HEADER
    deployment = written(plan, "Deployment", "echo-v2")
    assert annotations_of(deployment)[names.ROLE] == "canary"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["-text=version:echo-v2", "-listen=:8080"] and container["name"] == "echo-v2"


def test_start_no_route_only_adds_the_deployment():
    plan = plan_start(snap(STABLE, {"v1": "primary"}), "v2", no_route=True)
    assert steps(plan) == ["apply Deployment echo/echo-v2"]
    assert "route header traffic to it with `kubectl canary start echo --version v2`" in plan.messages[0]


def test_start_again_on_a_deployed_version_adds_the_route_and_keeps_the_deployment():
    plan = plan_start(snap(STABLE, {"v1": "primary", "v2": "canary"}), "v2")
    assert steps(plan) == ["apply Deployment echo/echo-v2", "apply RouteTable echo/echo-routes"]
    assert state_of(plan) == HEADER


@pytest.mark.parametrize(
    ("state", "headers", "expected"),
    [
        (STABLE, (("x-beta", "1"),), RouteState("v1", "v2", 0, (("x-beta", "1"),))),
        (STABLE, (("b", "2"), ("a", "1")), RouteState("v1", "v2", 0, (("a", "1"), ("b", "2")))),
        (WEIGHTED, None, WEIGHTED),
        (WEIGHTED, (("x-beta", "1"),), RouteState("v1", "v2", 50, (("x-beta", "1"),))),
    ],
)
def test_start_headers_default_and_rerun_keeps_the_weight(state, headers, expected):
    plan = plan_start(snap(state, {"v1": "primary", "v2": "canary"}), "v2", headers=headers)
    assert state_of(plan) == expected


@pytest.mark.parametrize(
    ("primary_image", "image", "expected_image", "expected_args"),
    [
        ("hashicorp/http-echo", None, "hashicorp/http-echo", ["-text=version:echo-v2", "-listen=:8080"]),
        ("hashicorp/http-echo", "nginx:1", "nginx:1", None),
        ("registry/app:1", None, "registry/app:1", ["--serve"]),
        # As `kubectl set image`: another image keeps the container's args (http-echo's name the version).
        ("registry/app:1", "registry/app:2", "registry/app:2", ["--serve"]),
    ],
)
def test_start_copies_the_primary_workload(primary_image, image, expected_image, expected_args):
    objs = service_objects(STABLE, {"v1": "primary"})
    container = objs[-1]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = primary_image
    if primary_image != "hashicorp/http-echo":
        container["args"] = ["--serve"]
    objs[-1]["spec"]["replicas"] = 2
    plan = plan_start(snapshot_of("echo", "echo", objs), "v2", Changes.parse([image] if image else []))
    deployment = written(plan, "Deployment", "echo-v2")
    new = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (new["image"], new.get("args"), deployment["spec"]["replicas"]) == (expected_image, expected_args, 2)


@pytest.mark.parametrize(
    ("state", "roles", "version", "error", "message"),
    [
        (None, {}, "v2", NotFound,
         "service echo not found in namespace echo: no RouteTable there routes to Upstream echo/echo"),
        (STABLE, {"v1": "primary"}, "v1", StateConflict, "version v1 is already the primary of service echo"),
        (HEADER, {"v1": "primary", "v2": "canary"}, "v3", StateConflict,
         "a canary is already in progress for service echo in namespace echo"),
        (STABLE, {}, "v2", NotFound,
         "Deployment of primary v1 of service echo not found in namespace echo: the canary is a copy of it"),
        (STABLE, {"v1": "primary"}, "V2", UsageError, "invalid version 'V2'"),
    ],
)
def test_start_errors(state, roles, version, error, message):
    with pytest.raises(error) as err:
        plan_start(snap(state, roles), version)
    assert message in str(err.value)


def test_start_refuses_a_header_named_twice():
    with pytest.raises(UsageError, match="names a header twice"):
        plan_start(snap(STABLE, {"v1": "primary"}), "v2", headers=(("a", "1"), ("a", "2")))


def test_start_on_a_hand_edited_routetable_says_what_was_found():
    objs = service_objects(STABLE, {"v1": "primary"})
    objs[2]["spec"]["routes"][0]["routeAction"]["single"]["subset"]["values"]["zone"] = "eu"
    with pytest.raises(UnmanagedShape, match="selects subset"):
        plan_start(snapshot_of("echo", "echo", objs), "v2")


# shift


@pytest.mark.parametrize(
    ("state", "weight", "phase"),
    [(HEADER, 50, "weighted"), (WEIGHTED, 100, "weighted"), (WEIGHTED, 0, "header"), (HEADER, 0, "header")],
)
def test_shift_sets_the_canary_weight(state, weight, phase):
    plan = plan_shift(snap(state, {"v1": "primary", "v2": "canary"}), weight)
    assert steps(plan) == ["apply RouteTable echo/echo-routes"]
    new = state_of(plan)
    assert (new.weight, new.phase, new.headers) == (weight, phase, state.headers)
    assert annotations_of(written(plan, "RouteTable", "echo-routes"))[names.WEIGHT] == str(weight)


@pytest.mark.parametrize(
    ("state", "roles", "weight", "error", "message"),
    [
        (STABLE, {"v1": "primary"}, 50, StateConflict, "no canary in progress for service echo in namespace echo"),
        (HEADER, {"v1": "primary", "v2": "canary"}, 101, UsageError, "use 0 to 100"),
        (HEADER, {"v1": "primary", "v2": "canary"}, -1, UsageError, "use 0 to 100"),
        (HEADER, {"v1": "primary"}, 50, NotFound, "Deployment echo/echo-v2 (canary v2) not found"),
        (None, {}, 50, NotFound, "service echo not found"),
    ],
)
def test_shift_errors(state, roles, weight, error, message):
    with pytest.raises(error) as err:
        plan_shift(snap(state, roles), weight)
    assert message in str(err.value)


# finish


def test_finish_moves_traffic_before_deleting_the_old_primary():
    plan = plan_finish(snap(WEIGHTED, {"v1": "primary", "v2": "canary"}))
    assert steps(plan) == ["apply RouteTable echo/echo-routes", "apply Deployment echo/echo-v2",
                           "delete Deployment echo/echo-v1"]
    assert state_of(plan) == RouteState("v2")
    assert annotations_of(written(plan, "Deployment", "echo-v2"))[names.ROLE] == "primary"
    assert "had weight 50" in plan.messages[0]


def test_finish_keep_old_keeps_the_old_deployment_without_its_role():
    plan = plan_finish(snap(WEIGHTED, {"v1": "primary", "v2": "canary"}), keep_old=True)
    assert plan.deletes == ()
    assert names.ROLE not in annotations_of(written(plan, "Deployment", "echo-v1"))
    assert any("echo/echo-v1 kept (--keep-old)" in m for m in plan.messages)


@pytest.mark.parametrize(
    ("roles", "keep_old", "expected"),
    [
        # The RouteTable was written, then the run stopped: the old primary still has its role.
        ({"v1": "primary", "v2": "canary"}, False,
         ["apply RouteTable echo/echo-routes", "apply Deployment echo/echo-v2", "delete Deployment echo/echo-v1"]),
        ({"v1": "primary", "v2": "primary"}, False,
         ["apply RouteTable echo/echo-routes", "apply Deployment echo/echo-v2", "delete Deployment echo/echo-v1"]),
        ({"v1": "primary", "v2": "primary"}, True,
         ["apply RouteTable echo/echo-routes", "apply Deployment echo/echo-v2", "apply Deployment echo/echo-v1"]),
    ],
)
def test_finish_completes_a_finish_that_stopped_half_way(roles, keep_old, expected):
    plan = plan_finish(snap(RouteState("v2"), roles), keep_old)
    assert steps(plan) == expected
    assert "completing an earlier finish" in plan.messages[0]


@pytest.mark.parametrize(
    ("state", "roles", "error", "message"),
    [
        (STABLE, {"v1": "primary"}, StateConflict, "no canary in progress for service echo in namespace echo "
                                                   "(phase stable, primary v1): nothing to finish"),
        # A canary deployed with --no-route is not in progress: it has never had traffic.
        (STABLE, {"v1": "primary", "v2": "canary"}, StateConflict, "nothing to finish"),
        # A Deployment kept by --keep-old has no role, so a later finish does not delete it.
        (RouteState("v2"), {"v1": None, "v2": "primary"}, StateConflict, "nothing to finish"),
        (HEADER, {"v1": "primary"}, NotFound, "Deployment echo/echo-v2 (canary v2) not found"),
        (None, {}, NotFound, "service echo not found"),
    ],
)
def test_finish_errors(state, roles, error, message):
    with pytest.raises(error) as err:
        plan_finish(snap(state, roles))
    assert message in str(err.value)


# abort


@pytest.mark.parametrize(
    ("state", "roles", "delete_canary", "expected"),
    [
        (WEIGHTED, {"v1": "primary", "v2": "canary"}, False, ["apply RouteTable echo/echo-routes"]),
        (WEIGHTED, {"v1": "primary", "v2": "canary"}, True,
         ["apply RouteTable echo/echo-routes", "delete Deployment echo/echo-v2"]),
        # Re-run after the RouteTable was written but the delete failed: the delete is completed.
        (STABLE, {"v1": "primary", "v2": "canary"}, True,
         ["apply RouteTable echo/echo-routes", "delete Deployment echo/echo-v2"]),
        (STABLE, {"v1": "primary"}, True, ["apply RouteTable echo/echo-routes"]),
        (STABLE, {"v1": "primary"}, False, ["apply RouteTable echo/echo-routes"]),
    ],
)
def test_abort_sends_all_traffic_to_the_primary_first(state, roles, delete_canary, expected):
    plan = plan_abort(snap(state, roles), delete_canary)
    assert steps(plan) == expected
    assert state_of(plan) == STABLE


@pytest.mark.parametrize(
    ("state", "roles", "delete_canary", "message"),
    [
        (WEIGHTED, {"v1": "primary", "v2": "canary"}, False,
         "remove it with `kubectl canary abort echo --delete-canary`"),
        (STABLE, {"v1": "primary"}, False, "service echo is already stable on v1: nothing to abort"),
    ],
)
def test_abort_says_what_it_left(state, roles, delete_canary, message):
    assert any(message in m for m in plan_abort(snap(state, roles), delete_canary).messages)


@pytest.mark.parametrize(
    ("state", "roles", "error", "message"),
    [
        (None, {}, NotFound, "service echo not found"),
        (WEIGHTED, {"v2": "canary"}, NotFound, "Deployment echo/echo-v1 (primary v1) not found"),
    ],
)
def test_abort_errors(state, roles, error, message):
    with pytest.raises(error) as err:
        plan_abort(snap(state, roles))
    assert message in str(err.value)


def test_plans_keep_the_routetable_api_group_and_prefix():
    objs = service_objects(RouteState("v1", "v2", 10, (("stage", "canary"),)),
                           {"v1": "primary", "v2": "canary"}, api_group="team-a", prefix="/api/echo")
    plan = plan_finish(snapshot_of("echo", "echo", objs))
    rt = written(plan, "RouteTable", "echo-routes")
    assert rt["metadata"]["labels"][names.API_GROUP] == "team-a" and prefix_of(plan) == "/api/echo"


def test_start_again_with_an_image_updates_the_deployed_canary():
    objs = service_objects(STABLE, {"v1": "primary", "v2": "canary"})
    objs[-1]["spec"]["replicas"] = 4
    plan = plan_start(snapshot_of("echo", "echo", objs), "v2", Changes.parse(["registry/app:2"]), no_route=True)
    deployment = written(plan, "Deployment", "echo-v2")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container.get("args"), deployment["spec"]["replicas"]) == ("registry/app:2", None, 4)


def test_start_refuses_a_new_version_beside_an_unrouted_canary():
    # `start v2 --no-route` left v2 deployed as the canary; starting v3 would orphan it.
    with pytest.raises(StateConflict) as err:
        plan_start(snap(STABLE, {"v1": "primary", "v2": "canary"}), "v3")
    assert str(err.value) == (
        "a canary is already in progress for service echo in namespace echo (canary v2 deployed without a route); "
        "run `kubectl canary abort echo --delete-canary` before starting v3"
    )


@pytest.mark.parametrize("roles", [{"v1": "primary", "v2": None}, {"v1": "primary", "v0": "primary"}])
def test_start_ignores_unrouted_deployments_without_the_canary_role(roles):
    assert steps(plan_start(snap(STABLE, roles), "v3"))[-1] == "apply RouteTable echo/echo-routes"


def _hpa(target: str) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": "echo"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": 2, "maxReplicas": 5}}


def test_an_autoscaler_of_the_primary_gets_a_twin_that_goes_with_the_deployment_it_scales():
    started = plan_start(snapshot_of("echo", "echo", [*service_objects(STABLE, {"v1": "primary"}),
                                                     _hpa("echo-v1")]), "v2")
    twin = written(started, "HorizontalPodAutoscaler", "echo-v2")
    assert twin["spec"]["scaleTargetRef"]["name"] == "echo-v2" and twin["spec"]["maxReplicas"] == 5
    both = [*service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"}), _hpa("echo-v1"), _hpa("echo-v2")]
    hpa = "HorizontalPodAutoscaler"
    assert ObjectRef(hpa, "echo", "echo-v1") in plan_finish(snapshot_of("echo", "echo", both)).deletes
    aborted = plan_abort(snapshot_of("echo", "echo", both), delete_canary=True).deletes
    assert set(aborted) == {ObjectRef("Deployment", "echo", "echo-v2"), ObjectRef(hpa, "echo", "echo-v2")}
    kept = plan_finish(snapshot_of("echo", "echo", both), keep_old=True).deletes
    assert kept == ()
