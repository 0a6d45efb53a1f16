"""Every command through the click layer, on a directory (--files) and on the MemoryStore fake of a
cluster: what it prints, what it leaves in the store, and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from conftest import service_objects
from required import built_tool
from store.fake_apiserver import FakeApiServer, kubeconfig

from kubectl_canary.cli.env import Env, StoreOptions
from kubectl_canary.core import names
from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import ObjectRef, annotations_of
from kubectl_canary.core.routes import RouteState, recognise
from kubectl_canary.core.routetable import UpstreamRef
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.memory import MemoryStore

from .conftest import objects_in, read_tree

HEADER = RouteState("v1", "v2", 0, (("stage", "canary"),))
WEIGHTED = RouteState("v1", "v2", 50, (("stage", "canary"),))
RT_KEY = "RouteTable/echo/echo-routes"


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def memory(state=WEIGHTED, roles=None, **kwargs) -> MemoryStore:
    roles = {"v1": "primary", "v2": "canary"} if roles is None else roles
    return MemoryStore(service_objects(state, roles), default_namespace="echo", **kwargs)


def rt_state(store: MemoryStore) -> RouteState:
    rt = store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]
    return recognise(rt, "echo", UpstreamRef("echo", "echo")).state


# The whole workflow in directory mode


def test_directory_workflow_prints_kubectl_like_lines(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    steps = [
        (["init", "echo", "--version", "v1", "--api-group", "example"],
         ["service/echo created", "deployment.apps/echo-v1 created", "upstream.gloo.solo.io/echo created",
          "routetable.gateway.solo.io/echo-routes created"]),
        (["start", "echo", "--version", "v2"],
         ["deployment.apps/echo-v2 created", "routetable.gateway.solo.io/echo-routes configured"]),
        (["start", "echo", "--version", "v2"],
         ["deployment.apps/echo-v2 unchanged", "routetable.gateway.solo.io/echo-routes unchanged"]),
        (["shift", "echo", "--weight", "30"], ["routetable.gateway.solo.io/echo-routes configured"]),
        (["finish", "echo"],
         ["routetable.gateway.solo.io/echo-routes configured", "deployment.apps/echo-v2 configured",
          "deployment.apps/echo-v1 deleted"]),
    ]
    for args, lines in steps:
        assert ok(run(*args, *files)).stdout.splitlines() == lines
    assert sorted(objects_in(tmp_path)) == ["Deployment/echo/echo-v2", RT_KEY, "Service/echo/echo",
                                            "Upstream/echo/echo"]
    rt = objects_in(tmp_path)[RT_KEY]
    assert annotations_of(rt) == {names.SERVICE_ANNOTATION: "echo", names.PHASE: "stable", names.PRIMARY: "v2"}


def test_abort_in_directory_mode_keeps_the_canary_unless_asked(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", *files))
    ok(run("start", "echo", "--version", "v2", *files))
    result = ok(run("abort", "echo", *files))
    assert result.stdout == "routetable.gateway.solo.io/echo-routes configured\n"
    assert "kept without traffic" in result.stderr
    assert "Deployment/echo/echo-v2" in objects_in(tmp_path)
    result = ok(run("abort", "echo", "--delete-canary", *files))
    assert result.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes unchanged",
                                          "deployment.apps/echo-v2 deleted"]
    assert "Deployment/echo/echo-v2" not in objects_in(tmp_path)


def test_init_without_api_group_leaves_the_label_off_and_takes_the_options(run, tmp_path):
    ok(run("init", "web", "--version", "v3", "--image", "nginx:1.27", "--port", "80", "--replicas", "2",
           "--prefix", "/api/web", "--files", str(tmp_path)))
    found = objects_in(tmp_path)
    rt = found["RouteTable/default/web-routes"]
    assert names.API_GROUP not in rt["metadata"]["labels"]
    assert recognise(rt, "web", UpstreamRef("default", "web")).state == RouteState("v3")
    assert rt["spec"]["routes"][0]["matchers"] == [{"prefix": "/api/web"}]
    container = found["Deployment/default/web-v3"]["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container.get("args"), container["ports"]) == ("nginx:1.27", None,
                                                                                [{"containerPort": 80}])
    assert found["Deployment/default/web-v3"]["spec"]["replicas"] == 2


def test_init_into_a_new_directory_creates_it(run, tmp_path):
    ok(run("init", "echo", "--version", "v1", "--files", str(tmp_path / "gitops")))
    assert (tmp_path / "gitops" / "default" / "routetable-echo-routes.yaml").is_file()


# The same commands against the MemoryStore fake of a cluster


def test_start_and_shift_on_the_cluster_interface(run):
    store = memory(RouteState("v1"), {"v1": "primary"})
    ok(run("start", "echo", "--version", "v2", "--header", "x-beta=1", "--header", "tier=gold", store=store))
    assert rt_state(store) == RouteState("v1", "v2", 0, (("tier", "gold"), ("x-beta", "1")))
    writes = [c for c in store.calls if c[0] in ("apply", "delete")]
    assert writes == [("apply", ObjectRef("Deployment", "echo", "echo-v2")),
                      ("apply", ObjectRef("RouteTable", "echo", "echo-routes"))]
    ok(run("shift", "echo", "--weight", "100", store=store))
    assert rt_state(store).weight == 100


def test_start_no_route_then_start_adds_the_route(run):
    store = memory(RouteState("v1"), {"v1": "primary"})
    result = ok(run("start", "echo", "--version", "v2", "--no-route", store=store))
    assert result.stdout == "deployment.apps/echo-v2 created\n"
    assert "route header traffic to it with `kubectl canary start echo --version v2`" in result.stderr
    assert rt_state(store).canary is None
    ok(run("start", "echo", "--version", "v2", store=store))
    assert rt_state(store) == HEADER


def test_start_of_another_version_beside_an_unrouted_canary_is_refused(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", *files))
    ok(run("start", "echo", "--version", "v2", "--no-route", *files))
    before = read_tree(tmp_path)
    result = run("start", "echo", "--version", "v3", *files)
    assert result.exit_code == 1
    assert "a canary is already in progress" in result.stderr
    assert "`kubectl canary abort echo --delete-canary`" in result.stderr
    assert read_tree(tmp_path) == before
    assert "canary v2 is deployed without traffic (start --no-route)" in ok(run("status", "echo", *files)).stdout


def test_init_into_a_blocked_file_path_is_a_partial_write_not_a_traceback(run, tmp_path):
    (tmp_path / "other").write_text("")
    result = run("init", "web", "-n", "other", "--version", "v1", "--files", str(tmp_path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr == (
        f"error: cannot write {tmp_path}/other/service-web.yaml: {tmp_path}/other is a file, not a directory; "
        "remove it or pick another -n/--files\n"
    )
    # Blocked half way (the Upstream's file is a directory): what was written is named, and re-running completes.
    (tmp_path / "other").unlink()
    (tmp_path / "other" / "upstream-web.yaml").mkdir(parents=True)
    result = run("init", "web", "-n", "other", "--version", "v1", "--files", str(tmp_path))
    assert result.exit_code == 1
    assert "Service other/web created, Deployment other/web-v1 created; then apply Upstream other/web failed" \
        in result.stderr
    assert "re-run the same command to complete it" in result.stderr
    (tmp_path / "other" / "upstream-web.yaml").rmdir()
    ok(run("init", "web", "-n", "other", "--version", "v1", "--files", str(tmp_path)))


def test_init_again_on_a_stable_service_keeps_its_custom_image(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", "--image", "nginx:1.27", "--replicas", "2", *files))
    before = read_tree(tmp_path)
    result = ok(run("init", "echo", "--version", "v1", *files))
    assert "deployment.apps/echo-v1 unchanged" in result.stdout
    assert read_tree(tmp_path) == before
    container = objects_in(tmp_path)["Deployment/echo/echo-v1"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"


def test_finish_keep_old_on_the_cluster_interface(run):
    store = memory()
    result = ok(run("finish", "echo", "--keep-old", store=store))
    assert "deployment.apps/echo-v1 configured" in result.stdout and "kept (--keep-old)" in result.stderr
    v1 = store.objects[ObjectRef("Deployment", "echo", "echo-v1")]
    assert names.ROLE not in annotations_of(v1)
    assert rt_state(store) == RouteState("v2")


def test_abort_delete_canary_on_the_cluster_interface(run):
    store = memory()
    result = ok(run("abort", "echo", "--delete-canary", store=store))
    assert result.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes configured",
                                          "deployment.apps/echo-v2 deleted"]
    assert ObjectRef("Deployment", "echo", "echo-v2") not in store.objects


def test_the_store_gets_the_flags_and_the_namespace_defaults_to_the_context(run):
    seen: list[StoreOptions] = []
    store = memory()

    def factory(options: StoreOptions) -> MemoryStore:
        seen.append(options)
        return store

    ok(run("shift", "echo", "--weight", "10", "--context", "kind-dev", "--kubeconfig", "/k", "--as", "jane",
           "--as-group", "devs", "--as-group", "ops", "-s", "https://127.0.0.1:6443", "--request-timeout", "2s",
           "--force-conflicts", env=Env(factory)))
    connection = Connection(kubeconfig="/k", context="kind-dev", server="https://127.0.0.1:6443", as_user="jane",
                            as_groups=("devs", "ops"), request_timeout=2.0)
    assert seen == [StoreOptions(None, connection, None, False, force_conflicts=True)]
    assert rt_state(store).weight == 10
    ok(run("init", "echo", "--version", "v1", "-n", "other", env=Env(factory)))
    assert seen[-1].create is True and seen[-1].namespace == "other"


@pytest.fixture(scope="module")
def kubectl_timeout() -> Iterator[Callable[[str], float | None]]:
    """kubectl_timeout(flag): the timeout the built kubectl sends with `--request-timeout=flag` (the
    `timeout` of its request, in seconds; 0 when it sends none), or None when kubectl refuses the flag."""
    kubectl = built_tool("kubectl")
    api = FakeApiServer()
    api.answers[("GET", "/api/v1/namespaces/echo")] = (200, {"kind": "Namespace", "apiVersion": "v1",
                                                             "metadata": {"name": "echo"}}, [])
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config"
        config.write_text(kubeconfig(api.url))

        def sent(flag: str) -> float | None:
            api.requests.clear()
            proc = subprocess.run([kubectl, f"--kubeconfig={config}", "get", "--raw", "/api/v1/namespaces/echo",
                                   f"--request-timeout={flag}"], capture_output=True, text=True, timeout=60)
            if proc.returncode != 0 and "deadline exceeded" in proc.stderr:
                return -1.0  # a timeout too short for any request
            if proc.returncode != 0:
                assert "Invalid timeout value" in proc.stderr, proc.stderr
                return None
            (request,) = api.requests
            return go_duration(request["query"].get("timeout", "0s"))

        yield sent
    api.close()


def go_duration(text: str) -> float:
    """Seconds of a duration as Go's time.Duration.String() writes it (`1h30m0s`, `500ms`)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(h|ms|m|s|us|µs|ns)", text))


# What the built kubectl makes of each `--request-timeout` (its ParseTimeout: whole seconds, else a Go
# duration; 0 is "no timeout"), and what the plugin makes of it: the same timeout, or a usage error where
# kubectl refuses the flag. Not here: a negative duration with a unit (`-1s`), which kubectl sends on as
# `timeout=-1s` and the plugin refuses, naming the syntax.
@pytest.mark.parametrize("flag", ["30", "0", "007", "-0", "1m30s", "500ms", "2h", "90m", "0s", "-0s", "1.5s", ".5s",
                                  "5.s", "+5s", "1h2m3.5s", "1ns", "999ns", "1.5", "abc", "-5", "5x", "1e3", "5 s",
                                  "1h-2m"])
def test_request_timeout_reads_like_kubectl(run, kubectl_timeout, flag):
    seen: list[StoreOptions] = []
    result = run("status", "echo", "--request-timeout", flag, env=Env(lambda o: seen.append(o) or memory()))
    expected = kubectl_timeout(flag)
    if expected is None:
        assert result.exit_code == 2 and "a timeout is whole seconds or a number with a unit" in result.stderr
    elif expected < 0:  # kubectl gave up before any request: a timeout, however short, not "none" (0)
        ok(result)
        assert 0 < seen[0].connection.request_timeout <= 1e-6
    else:
        ok(result)
        assert seen[0].connection.request_timeout == pytest.approx(expected, abs=1e-9)


# Dry runs and output formats


def test_client_dry_run_prints_yaml_and_names_deletions_touching_nothing(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", *files))
    ok(run("start", "echo", "--version", "v2", *files))
    before = read_tree(tmp_path)
    result = ok(run("finish", "echo", "--dry-run=client", "-o", "yaml", *files))
    docs = list(yaml.safe_load_all(result.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("RouteTable", "echo-routes"),
                                                                  ("Deployment", "echo-v2")]
    assert "deployment.apps/echo-v1 would be deleted (dry run)" in result.stderr
    assert read_tree(tmp_path) == before


def test_client_dry_run_json_is_a_v1_list(run):
    store = memory()
    result = ok(run("shift", "echo", "--weight", "70", "--dry-run", "client", "-o", "json", store=store))
    data = json.loads(result.stdout)
    assert (data["apiVersion"], data["kind"], len(data["items"])) == ("v1", "List", 1)
    assert data["items"][0]["metadata"]["annotations"][names.WEIGHT] == "70"
    assert rt_state(store).weight == 50 and not any(c[0] == "apply" for c in store.calls)


@pytest.mark.parametrize(("mode", "suffix"), [("client", " (dry run)"), ("server", " (server dry run)")])
def test_dry_runs_without_output_print_what_would_change(run, mode, suffix):
    store = memory()
    result = ok(run("finish", "echo", f"--dry-run={mode}", store=store))
    assert result.stdout.splitlines() == [f"routetable.gateway.solo.io/echo-routes configured{suffix}",
                                          f"deployment.apps/echo-v2 configured{suffix}",
                                          f"deployment.apps/echo-v1 deleted{suffix}"]
    assert rt_state(store) == WEIGHTED and ObjectRef("Deployment", "echo", "echo-v1") in store.objects


def test_output_yaml_after_a_write_prints_the_stored_objects(run):
    store = memory()
    result = ok(run("finish", "echo", "-o", "yaml", store=store))
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == ["RouteTable", "Deployment"]
    assert "deployment.apps/echo-v1 deleted" in result.stderr


def test_server_warnings_are_printed_like_kubectl(run):
    store = memory(apply_warnings=["canary weight jumps by 50 (policy maxWeightStep 25)"])
    result = ok(run("shift", "echo", "--weight", "100", store=store))
    assert "Warning: canary weight jumps by 50 (policy maxWeightStep 25)" in result.stderr
    assert store.warnings == []


# status and list


def test_status_table_and_formats(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", "--api-group", "example", *files))
    ok(run("start", "echo", "--version", "v2", *files))
    ok(run("shift", "echo", "--weight", "25", *files))
    text = ok(run("status", "echo", *files)).stdout
    assert "Phase:       weighted" in text and "Header:      stage=canary -> v2" in text
    assert "v1        primary   75%" in text and "v2        canary    25%" in text and "Drift:       none" in text
    data = json.loads(ok(run("status", "echo", "-o", "json", *files)).stdout)
    assert (data["phase"], data["primary"], data["canary"], data["weight"]) == ("weighted", "v1", "v2", 25)
    assert yaml.safe_load(ok(run("status", "echo", "-o", "yaml", *files)).stdout) == data
    assert ok(run("status", "echo", "-o", "table", *files)).stdout == text


def _policy(name: str, **spec) -> dict:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy", "metadata": {"name": name},
            "spec": spec}


def test_status_shows_the_governing_policies_in_every_format(run, tmp_path):
    files = ["-n", "echo", "--files", str(tmp_path)]
    ok(run("init", "echo", "--version", "v1", "--api-group", "example", *files))
    assert "Policy:      none" in ok(run("status", "echo", *files)).stdout
    assert json.loads(ok(run("status", "echo", "-o", "json", *files)).stdout)["policies"] == []
    # A platform repository next to the team's manifests: the Namespace's labels select the policies.
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echo", "labels": {"team": "web"}}},
        _policy("limits", namespaceSelector={"matchLabels": {"team": "web"}}, maxWeightStep=25,
                prefixes=["/{namespace}"]),
        _policy("audit-all", enforcement="Audit", allowCrossNamespaceUpstreams=True),
        _policy("databases", namespaceSelector={"matchLabels": {"team": "db"}}, apiGroup="db"),
        _policy("not-echo", exemptNamespaces=["echo"], requireHeaderPhase=True),
        _policy("broken", maxWeightStep=0),
    ]))
    result = ok(run("status", "echo", *files))
    assert ("Policy:      audit-all (Audit): allowCrossNamespaceUpstreams=true\n"
            "             limits (Enforce): maxWeightStep=25, prefixes=/echo, allowCrossNamespaceUpstreams=false\n"
            ) in result.stdout
    assert result.stderr == ("Warning: CanaryPolicy broken: spec.maxWeightStep must be an integer from 1 to 100, "
                             "not 0 (policy left out)\n")
    data = json.loads(ok(run("status", "echo", "-o", "json", *files)).stdout)
    assert data["policies"] == [
        {"name": "audit-all", "enforcement": "Audit", "apiGroup": None, "maxWeightStep": None,
         "requireHeaderPhase": False, "prefixes": None, "allowCrossNamespaceUpstreams": True},
        {"name": "limits", "enforcement": "Enforce", "apiGroup": None, "maxWeightStep": 25,
         "requireHeaderPhase": False, "prefixes": ["/echo"], "allowCrossNamespaceUpstreams": False},
    ]
    assert yaml.safe_load(ok(run("status", "echo", "-o", "yaml", *files)).stdout) == data


def test_status_shows_drift_of_a_hand_edited_annotation(run):
    store = memory()
    store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]["metadata"]["annotations"][names.WEIGHT] = "90"
    assert "annotation kubectl-canary.io/weight is '90' but the routes say '50'" in ok(run("status", "echo",
                                                                                          store=store)).stdout


def test_status_watch_redraws_on_change_until_interrupted(run):
    store = memory()
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            rt = store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]
            rt["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][1]["weight"] = 80
            rt["spec"]["routes"][1]["routeAction"]["multi"]["destinations"][0]["weight"] = 20
        if len(polls) == 4:
            raise KeyboardInterrupt

    result = ok(run("status", "echo", "--watch", env=Env(lambda _o: store, sleep=sleep, watch_interval=2.0)))
    assert polls == [2.0] * 4
    # Drawn once, unchanged at the second poll, redrawn after the change, unchanged again.
    assert result.stdout.count("Phase:") == 2
    assert "v2        canary    80%" in result.stdout.split("Phase:")[2]


def test_list_shows_managed_services_in_one_or_all_namespaces(run, tmp_path):
    for ns, service in (("echo", "echo"), ("fox", "foxtrot")):
        ok(run("init", service, "--version", "v1", "-n", ns, "--files", str(tmp_path)))
    ok(run("start", "echo", "--version", "v2", "-n", "echo", "--files", str(tmp_path)))
    assert ok(run("list", "-A", "--files", str(tmp_path))).stdout.splitlines() == [
        "NAMESPACE   SERVICE   PHASE    PRIMARY   CANARY   WEIGHT",
        "echo        echo      header   v1        v2       0",
        "fox         foxtrot   stable   v1        -        -",
    ]
    assert ok(run("list", "-n", "fox", "--files", str(tmp_path))).stdout.splitlines()[1].startswith("foxtrot")
    rows = json.loads(ok(run("list", "-A", "-o", "json", "--files", str(tmp_path))).stdout)
    assert [r["service"] for r in rows] == ["echo", "foxtrot"]
    empty = ok(run("list", "-n", "nobody", "--files", str(tmp_path)))
    assert empty.stdout == "" and "No services managed by kubectl-canary found in namespace nobody" in empty.stderr


# Errors: exit code and one line on stderr


@pytest.mark.parametrize(
    ("args", "store_state", "code", "message"),
    [
        (["shift", "nope", "--weight", "10"], WEIGHTED, 1,
         "error: service nope not found in namespace echo: no RouteTable there routes to Upstream echo/nope"),
        (["start", "echo", "--version", "v3"], HEADER, 1,
         "error: a canary is already in progress for service echo in namespace echo (phase header, primary v1, "
         "canary v2 at weight 0)"),
        (["start", "echo", "--version", "v1"], RouteState("v1"), 1,
         "error: version v1 is already the primary of service echo"),
        (["shift", "echo", "--weight", "10"], RouteState("v1"), 1,
         "error: no canary in progress for service echo in namespace echo (phase stable, primary v1)"),
        (["finish", "echo"], RouteState("v1"), 1, "nothing to finish"),
        (["shift", "echo", "--weight", "101"], WEIGHTED, 2, "Invalid value for '--weight': 101 is not in the range"),
        (["shift", "echo", "--weight", "-5"], WEIGHTED, 2, "Invalid value for '--weight'"),
        (["start", "echo", "--version", "v2", "--header", "stage"], RouteState("v1"), 2,
         "error: invalid --header 'stage': expected NAME=VALUE"),
        (["init", "echo", "--version", "v1", "--prefix", "echo"], None, 2, "error: invalid --prefix 'echo'"),
        (["status", "Echo"], WEIGHTED, 2, "error: invalid service name 'Echo'"),
        (["shift", "echo"], WEIGHTED, 2, "Missing option '--weight'"),
        (["finish", "echo", "--dry-run=maybe"], WEIGHTED, 2, "Invalid value for '--dry-run'"),
        (["status", "echo", "--files", "d", "--context", "x"], WEIGHTED, 2,
         "error: --files reads and writes a directory; it cannot be combined with --context"),
        (["status", "echo", "--files", "d", "--as", "jane", "--token", "t"], WEIGHTED, 2,
         "error: --files reads and writes a directory; it cannot be combined with --token, --as"),
        (["status", "echo", "--request-timeout", "soon"], WEIGHTED, 2,
         "Invalid value for '--request-timeout': 'soon': a timeout is whole seconds or a number with a unit"),
        (["status", "echo", "--request-timeout", "-1s"], WEIGHTED, 2, "Invalid value for '--request-timeout'"),
    ],
)
def test_errors_exit_with_one_clear_line(run, args, store_state, code, message):
    store = memory(store_state, {"v1": "primary", "v2": "canary"}) if store_state else MemoryStore()
    before = {k: json.dumps(v, sort_keys=True) for k, v in store.objects.items()}
    result = run(*args, store=store)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert {k: json.dumps(v, sort_keys=True) for k, v in store.objects.items()} == before


def test_a_hand_edited_routetable_is_refused_saying_what_was_found(run):
    store = memory()
    rt = store.objects[ObjectRef("RouteTable", "echo", "echo-routes")]
    rt["spec"]["routes"][1]["matchers"].append({"prefix": "/legacy"})
    result = run("shift", "echo", "--weight", "60", store=store)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: RouteTable echo/echo-routes is not in a shape kubectl-canary manages: route /echo splits traffic "
        "between v1 and v2 without the header route the plugin writes above it; restore the routes it wrote "
        "(see `kubectl canary status`), or manage this service by hand\n"
    )


def test_cluster_errors_reach_the_user_as_one_line(run):
    denial = ClusterError("forbidden: context kind-dev may not apply RouteTable echo/echo-routes (...); ask for RBAC "
                          "permission to patch routetables.gateway.solo.io in namespace echo")
    result = run("shift", "echo", "--weight", "60", store=memory(fail_on=("apply", None), failure=denial))
    assert (result.exit_code, result.stderr) == (1, f"error: {denial}\n")


# Partial failures and re-runs


def test_finish_that_fails_half_way_names_what_was_written_and_a_rerun_completes_it(run):
    v1 = ObjectRef("Deployment", "echo", "echo-v1")
    store = memory(fail_on=("delete", v1))
    result = run("finish", "echo", store=store)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes configured",
                                          "deployment.apps/echo-v2 configured"]
    assert result.stderr.startswith(
        "error: RouteTable echo/echo-routes configured, Deployment echo/echo-v2 configured; then delete "
        "Deployment echo/echo-v1 failed: injected failure")
    assert result.stderr.rstrip().endswith("re-run the same command to complete it")
    store.fail_on.clear()
    rerun = ok(run("finish", "echo", store=store))
    assert rerun.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes unchanged",
                                         "deployment.apps/echo-v2 unchanged", "deployment.apps/echo-v1 deleted"]
    assert "completing an earlier finish" in rerun.stderr
    assert v1 not in store.objects
    again = run("finish", "echo", store=store)
    assert again.exit_code == 1 and "nothing to finish" in again.stderr


def test_abort_that_fails_half_way_is_completed_by_a_rerun(run):
    v2 = ObjectRef("Deployment", "echo", "echo-v2")
    store = memory(fail_on=("delete", v2))
    result = run("abort", "echo", "--delete-canary", store=store)
    assert result.exit_code == 1
    assert "error: RouteTable echo/echo-routes configured; then delete Deployment echo/echo-v2 failed" in result.stderr
    assert rt_state(store) == RouteState("v1")
    store.fail_on.clear()
    rerun = ok(run("abort", "echo", "--delete-canary", store=store))
    assert rerun.stdout.splitlines() == ["routetable.gateway.solo.io/echo-routes unchanged",
                                         "deployment.apps/echo-v2 deleted"]
    assert v2 not in store.objects


# Help


def test_help_lists_every_command_and_the_common_flags(run):
    text = ok(run("--help")).stdout
    assert text.startswith("Usage: kubectl canary [OPTIONS] COMMAND [ARGS]...")
    for command in ("init", "start", "shift", "finish", "abort", "status", "list"):
        assert f"  {command} " in text
        help_text = ok(run(command, "--help")).stdout
        for flag in ("-n, --namespace", "--context", "--kubeconfig", "--files", "--dry-run", "-o, --output"):
            assert flag in help_text, (command, flag)
