"""The seed's whole workflow on a real cluster, with the real webhook registered as deploy/ ships it.

Every command goes through the built kubectl: `kubectl canary ...` finds the plugin on PATH, and the
hand-written objects go through `kubectl apply`. The webhook runs as a `canary-webhook serve` process
with `--default-api-group example` (tests/e2e/webhook.py, fixture `webhook`), so the RouteTables that
`init` writes without `--api-group` get their `apiGroup` label from the webhook. Shown here:

- each step of the seed (init echo v1 and foxtrot v1, deploy v2, start with the header, shift 50,
  shift 100, finish) leaves in the cluster what the seed's chart renders for values-1 .. values-6
  (tests/data/seed; server defaults, extra labels and annotations allowed, RouteTable and Upstream
  specs exactly equal);
- `--dry-run=server` of each step shows the webhook's verdict and stores nothing. A server dry run
  judges every write against the cluster as it is, without the plan's earlier writes (nothing is
  stored): `init` is refused (its RouteTable routes to an Upstream the dry run did not store), so is
  `start` without `--no-route` from phase stable (no stored canary Deployment), and `finish` gets a
  warning (its delete of v1 is judged while v1 still has its weight-0 destination);
- through kubectl: routing to a version nobody serves is refused with the webhook's message,
  weights 1 and 3 are stored as 25 and 75 with kubectl printing the warnings, and deleting a
  Deployment that still takes traffic is refused;
- a Deployment created just before the RouteTable that routes to it is accepted (the cache-miss path);
- with the webhook process stopped, RouteTable writes fail (failurePolicy Fail) and Deployment
  deletes go through (Ignore), as deploy/ documents; afterwards the webhook is restarted.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_canary.core import objects
from kubectl_canary.core.objects import Workload

from .controlplane import ControlPlane, written
from .webhook import WebhookProcess, destination, route_table

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"
RESOURCES = "deployments.apps,services,upstreams.gloo.solo.io,routetables.gateway.solo.io"
# Custom resources get no server defaults: their specs must be exactly what the chart renders.
EXACT_SPEC = {"Upstream", "RouteTable"}
MUTATE = "routetables.mutate.kubectl-canary.io"
VALIDATE = "routetables.validate.kubectl-canary.io"
GUARD = "deployments.validate.kubectl-canary.io"

Obj = dict[str, Any]
Run = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.usefixtures("webhook")


# ---- the seed's expectations and the cluster's objects ------------------------------------------


def seed_objects(step: int, service: str = "echo") -> list[Obj]:
    """What the seed's chart renders for values-`step`, for release `service` in namespace `service`."""
    text = (SEED / f"values-{step}.yaml").read_text(encoding="utf-8")
    # The expectations are written for release echo; the chart renders every name from the release
    # (but the image stays hashicorp/http-echo).
    text = re.sub(r"(?<!http-)\becho\b", service, text)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def cluster_objects(control_plane: ControlPlane, namespace: str) -> dict[str, Obj]:
    """The Deployments, Services, Upstreams and RouteTables of `namespace`, by "Kind/name"."""
    listed = json.loads(control_plane.kubectl("get", RESOURCES, "-n", namespace, "-o", "json").stdout)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in listed["items"]}


def mismatches(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Where `actual` lacks or changes what `expected` holds. Maps may have more keys (server defaults,
    extra labels and annotations); lists must have the same length (no extra routes or containers)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected a map, found {actual!r}"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing (expected {value!r})")
            else:
                found += mismatches(actual[key], value, f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, found {actual!r}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [m for i, (a, e) in pairs for m in mismatches(a, e, f"{path}[{i}]")]
    return [] if actual == expected else [f"{path}: expected {expected!r}, found {actual!r}"]


def conformance(actual: dict[str, Obj], expected: list[Obj]) -> list[str]:
    """Every difference between the objects in a namespace and the chart's rendering."""
    want = {f"{o['kind']}/{o['metadata']['name']}": o for o in expected}
    found = [f"missing {key}" for key in sorted(want.keys() - actual.keys())]
    found += [f"unexpected {key}" for key in sorted(actual.keys() - want.keys())]
    for key in sorted(want.keys() & actual.keys()):
        found += [f"{key}{m}" for m in mismatches(actual[key], want[key])]
        if want[key]["kind"] in EXACT_SPEC and actual[key]["spec"] != want[key]["spec"]:
            found.append(f"{key}.spec: has fields the chart does not render: {actual[key]['spec']!r}")
    return found


def test_the_comparison_allows_server_defaults_but_catches_changes() -> None:
    expected = seed_objects(4)
    actual = {f"{o['kind']}/{o['metadata']['name']}": json.loads(json.dumps(o)) for o in expected}
    actual["Deployment/echo-v1"]["spec"]["strategy"] = {"type": "RollingUpdate"}  # a server default
    actual["RouteTable/echo-routes"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "kubectl-canary"
    assert conformance(actual, expected) == []
    actual["RouteTable/echo-routes"]["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][1]["weight"] = 40
    actual["Deployment/echo-v2"]["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"})
    actual["Upstream/echo"]["spec"]["useHttp2"] = True
    del actual["Service/echo"]
    found = conformance(actual, expected)
    assert [line.split(":")[0] for line in found] == [
        "missing Service/echo",
        "Deployment/echo-v2.spec.template.spec.containers",
        "RouteTable/echo-routes.spec.routes[1].routeAction.multi.destinations[1].weight",
        "RouteTable/echo-routes.spec",
        "Upstream/echo.spec",
    ], found


# ---- the workflow ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One `kubectl canary` step of the seed, what the chart renders for its service afterwards, and
    what its server dry run against the state before it prints on stderr: the webhook's denial
    (`refused`) or warning (`{ns}` stands for the namespace)."""

    args: tuple[str, ...]
    values: int
    dry_run_says: str | None = None
    refused: bool = False

    @property
    def service(self) -> str:
        return self.args[1]


WORKFLOW = [
    # The dry run does not store the Upstream, so the RouteTable routes to one that does not exist.
    Step(("init", "echo", "--version", "v1"), 1,
         f'admission webhook "{VALIDATE}" denied the request: route /echo -> {{ns}}/echo subset version=v1: '
         "Upstream {ns}/echo does not exist", refused=True),
    Step(("init", "foxtrot", "--version", "v1"), 1,
         f'admission webhook "{VALIDATE}" denied the request: route /foxtrot -> {{ns}}/foxtrot subset version=v1: '
         "Upstream {ns}/foxtrot does not exist", refused=True),
    Step(("start", "echo", "--version", "v2", "--no-route"), 2),
    Step(("start", "echo", "--version", "v2"), 3),
    Step(("shift", "echo", "--weight", "50"), 4),
    Step(("shift", "echo", "--weight", "100"), 5),
    # The dry run does not store the RouteTable without v1, so the delete is judged while v1 still has
    # its weight-0 destination: allowed, with the webhook's warning.
    Step(("finish", "echo"), 6,
         "Warning: weight 0 left on the last Deployment echo-v1: RouteTable {ns}/echo-routes route /echo"),
]


def test_seed_workflow_leaves_what_the_seed_chart_renders(
    control_plane: ControlPlane, kubectl_canary: Run
) -> None:
    # The seed's names matter here (the chart renders them from the release and its namespace), so this
    # test owns the namespaces echo and foxtrot of the session's cluster. They carry no api-group label:
    # the RouteTables get `apiGroup: example` from the webhook's --default-api-group.
    for namespace in ("echo", "foxtrot"):
        control_plane.kubectl("create", "namespace", namespace)
    state = {"echo": 0, "foxtrot": 0}  # the values-N each service is at
    for step in WORKFLOW:
        done = kubectl_canary(*step.args, "-n", step.service)
        assert done.stdout.strip(), f"{step.args}: nothing reported"
        if step.args[0] == "init":
            # init did not set the label: the webhook did, and kubectl canary shows its warning.
            assert "Warning: label apiGroup=example added" in done.stderr, done.stderr
        state[step.service] = step.values
        for service, values in state.items():
            expected = seed_objects(values, service) if values else []
            found = conformance(cluster_objects(control_plane, service), expected)
            assert found == [], f"after `kubectl canary {' '.join(step.args)}`, {service} (values-{values}):\n" + (
                "\n".join(found))


def short_namespace(control_plane: ControlPlane) -> str:
    """A new namespace with a short name: the webhook cuts its warnings at 120 characters."""
    name = f"dry-{secrets.token_hex(3)}"
    control_plane.kubectl("create", "namespace", name)
    return name


def written_all(found: dict[str, Obj]) -> dict[str, Obj]:
    """`controlplane.written` of every object, by key."""
    return {key: written(obj) for key, obj in found.items()}


def check_server_dry_run(control_plane: ControlPlane, kubectl_canary: Run, namespace: str, step: Step) -> None:
    """The server dry run of `step` prints the webhook's verdict and leaves every object as it was."""
    before = written_all(cluster_objects(control_plane, namespace))
    dry = kubectl_canary(*step.args, "-n", namespace, "--dry-run=server", check=False)
    after = written_all(cluster_objects(control_plane, namespace))
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    assert changed == [], f"`{' '.join(step.args)} --dry-run=server` changed these in the cluster"
    if step.dry_run_says is not None:
        assert step.dry_run_says.format(ns=namespace) in dry.stderr, f"{step.args}: {dry.stderr}"
    lines = dry.stdout.splitlines()
    assert all(line.endswith("(server dry run)") for line in lines), dry.stdout
    if step.refused:
        assert dry.returncode == 1, dry.stdout + dry.stderr
    else:
        assert dry.returncode == 0 and lines, dry.stdout + dry.stderr


def test_server_dry_run_of_each_step_shows_the_verdict_and_stores_nothing(
    control_plane: ControlPlane, kubectl_canary: Run
) -> None:
    namespace = short_namespace(control_plane)
    for step in WORKFLOW[:-1]:
        check_server_dry_run(control_plane, kubectl_canary, namespace, step)
        kubectl_canary(*step.args, "-n", namespace)  # then the real step, for the next dry run


def test_server_dry_run_of_finish_shows_the_verdict_and_deletes_nothing(
    control_plane: ControlPlane, kubectl_canary: Run
) -> None:
    namespace = short_namespace(control_plane)
    for step in WORKFLOW[:-1]:
        kubectl_canary(*step.args, "-n", namespace)
    check_server_dry_run(control_plane, kubectl_canary, namespace, WORKFLOW[-1])


def test_server_dry_run_of_a_refused_step_names_the_webhook_and_its_reason(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    # `start` without --no-route from phase stable: the dry run creates the canary's Deployment without
    # storing it, so the webhook judges the header route to v2 with no v2 Deployment and refuses it.
    kubectl_canary("init", "echo", "--version", "v1", "-n", namespace)
    dry = kubectl_canary("start", "echo", "--version", "v2", "-n", namespace, "--dry-run=server", check=False)
    assert dry.returncode == 1
    assert dry.stdout.splitlines() == ["deployment.apps/echo-v2 created (server dry run)"]
    assert (f'admission webhook "{VALIDATE}" denied the request: route /echo [stage=canary] -> {namespace}/echo '
            f"subset version=v2: no Deployment in namespace {namespace} serves it; found v1") in dry.stderr
    assert "Deployment/echo-v2" not in cluster_objects(control_plane, namespace)
    # The real run writes the Deployment first, so the same step is accepted.
    kubectl_canary("start", "echo", "--version", "v2", "-n", namespace)


# ---- kubectl apply and delete against the webhook -------------------------------------------------


@pytest.fixture(scope="module")
def released(control_plane: ControlPlane, kubectl_canary: Run) -> Iterator[str]:
    """A namespace labelled api-group team-a where echo runs v1 (primary) and v2 (canary) at 50%."""
    name = "e2e-kubectl-released"
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("label", "namespace", name, "kubectl-canary.io/api-group=team-a")
    kubectl_canary("init", "echo", "--version", "v1", "-n", name)
    kubectl_canary("start", "echo", "--version", "v2", "-n", name)
    kubectl_canary("shift", "echo", "--weight", "50", "-n", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def stored(control_plane: ControlPlane, namespace: str, resource: str) -> Obj | None:
    got = control_plane.kubectl("get", resource, "-n", namespace, "-o", "json", check=False)
    if got.returncode != 0:
        assert "NotFound" in got.stderr, got.stderr
        return None
    found: Obj = json.loads(got.stdout)
    return found


def test_kubectl_apply_of_a_route_to_a_version_nobody_serves_is_refused(
    control_plane: ControlPlane, released: str
) -> None:
    single = destination(released, "v3")["destination"]
    refused = control_plane.kubectl("apply", "-f", "-", input=route_table(released, "to-v3", {"single": single}),
                                    check=False)
    assert refused.returncode == 1
    assert (f'admission webhook "{VALIDATE}" denied the request: route /to-v3 -> {released}/echo subset '
            f"version=v3: no Deployment in namespace {released} serves it; found v1, v2") in refused.stderr
    assert stored(control_plane, released, "routetable/to-v3") is None


def test_kubectl_apply_of_weights_1_and_3_stores_25_and_75_with_warnings(
    control_plane: ControlPlane, released: str
) -> None:
    multi = {"multi": {"destinations": [destination(released, "v1", 1), destination(released, "v2", 3)]}}
    applied = control_plane.kubectl("apply", "-f", "-", input=route_table(released, "quarter", multi))
    assert applied.stdout.strip() == "routetable.gateway.solo.io/quarter created"
    assert "Warning: route /quarter: weights 1,3 normalised to 25,75" in applied.stderr.splitlines()
    assert f"Warning: label apiGroup=team-a added (from Namespace {released})" in applied.stderr.splitlines()
    rt = stored(control_plane, released, "routetable/quarter")
    assert rt is not None
    weights = [d["weight"] for d in rt["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]]
    assert weights == [25, 75]
    assert rt["metadata"]["labels"]["apiGroup"] == "team-a"


def test_kubectl_delete_of_a_deployment_still_taking_traffic_is_refused(
    control_plane: ControlPlane, released: str
) -> None:
    refused = control_plane.kubectl("delete", "deployment", "echo-v1", "-n", released, check=False)
    assert refused.returncode == 1
    assert f'admission webhook "{GUARD}" denied the request' in refused.stderr
    # (the RouteTable `quarter` of the test above may be named too: it also routes to v1)
    assert (f"Deployment {released}/echo-v1 is the last one serving RouteTable {released}/echo-routes route /echo -> "
            f"{released}/echo subset version=v1") in refused.stderr
    assert stored(control_plane, released, "deployment/echo-v1") is not None


def test_deployment_created_just_before_the_route_table_is_accepted(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str
) -> None:
    # Each kubectl apply creates a Deployment and, a few milliseconds later in the same run, the
    # RouteTable routing to it: the webhook's watch cache has not seen the Deployment yet, so it must
    # ask the API server instead of refusing.
    kubectl_canary("init", "echo", "--version", "v1", "-n", namespace)
    for number, version in enumerate(("v2", "v3", "v4")):
        deployment = objects.deployment("echo", namespace, version, Workload(), "canary")
        rt = json.loads(route_table(namespace, "fresh", {"single": destination(namespace, version)["destination"]}))
        applied = control_plane.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [deployment, rt]}))
        action = "configured" if number else "created"
        assert applied.stdout.splitlines() == [f"deployment.apps/echo-{version} created",
                                               f"routetable.gateway.solo.io/fresh {action}"]
    # The plugin's `start` does the same: the canary's Deployment, then at once the header route to it.
    kubectl_canary("init", "fox", "--version", "v1", "-n", namespace)
    started = kubectl_canary("start", "fox", "--version", "v2", "-n", namespace)
    assert started.stdout.splitlines() == ["deployment.apps/fox-v2 created",
                                           "routetable.gateway.solo.io/fox-routes configured"]


# ---- the failure policies, with the webhook down (last: it stops and restarts the webhook) --------


def test_failure_policies_with_the_webhook_down_are_as_deploy_documents(
    control_plane: ControlPlane, kubectl_canary: Run, namespace: str, webhook: WebhookProcess
) -> None:
    kubectl_canary("init", "echo", "--version", "v1", "-n", namespace)
    kubectl_canary("start", "echo", "--version", "v2", "-n", namespace)
    kubectl_canary("shift", "echo", "--weight", "50", "-n", namespace)
    # While the webhook is up, deleting v1 is refused (a server dry run shows it).
    up = control_plane.kubectl("delete", "deployment", "echo-v1", "-n", namespace, "--dry-run=server", check=False)
    assert f'admission webhook "{GUARD}" denied the request' in up.stderr
    before = written(cluster_objects(control_plane, namespace)["RouteTable/echo-routes"])
    webhook.stop()
    try:
        # failurePolicy Fail: RouteTable writes are refused, whoever makes them.
        shifted = kubectl_canary("shift", "echo", "--weight", "60", "-n", namespace, check=False)
        assert shifted.returncode == 1
        assert f'failed calling webhook "{MUTATE}"' in shifted.stderr, shifted.stderr
        assert "RouteTable" in shifted.stderr and "echo-routes" in shifted.stderr
        applied = control_plane.kubectl("apply", "-f", "-", check=False, input=route_table(
            namespace, "down", {"single": destination(namespace, "v2")["destination"]}))
        assert applied.returncode == 1 and f'failed calling webhook "{MUTATE}"' in applied.stderr
        assert written(cluster_objects(control_plane, namespace)["RouteTable/echo-routes"]) == before
        assert stored(control_plane, namespace, "routetable/down") is None
        # failurePolicy Ignore: Deployment deletes go through unchecked, even the one refused above.
        deleted = control_plane.kubectl("delete", "deployment", "echo-v1", "-n", namespace)
        assert deleted.stdout.startswith('deployment.apps "echo-v1" deleted')
        assert stored(control_plane, namespace, "deployment/echo-v1") is None
    finally:
        webhook.start()
    # Back up: RouteTables can be written again, and `finish` moves the traffic off the deleted v1.
    finished = kubectl_canary("finish", "echo", "-n", namespace)
    assert "routetable.gateway.solo.io/echo-routes configured" in finished.stdout
    status = json.loads(kubectl_canary("status", "echo", "-n", namespace, "-o", "json", check=False).stdout)
    assert (status["phase"], status["primary"], status["canary"]) == ("stable", "v2", None)
    assert [(v["version"], v["weight"]) for v in status["versions"]] == [("v2", 100)]
