"""The seed's own workflow with Helm, on the real data path (gloo + Envoy) with our webhooks registered,
with Helm 3 and Helm 4 (both built from their Go modules by build-tools.sh):

- raw Helm, exactly as the seed runs it: `helm install echo charts/gloo-app -f values-1.yaml`, then
  `helm upgrade` with values 2 to 6; after each upgrade the seed's curls land where the seed says,
  and foxtrot, installed beside it, is untouched;
- the plugin driving the release (Helm mode): `kubectl canary init --helm`, start --no-route, start,
  shift 50, shift 100, finish, then a second release rolled back with abort --delete-canary; the
  release's values after each command equal the seed's file for that step, `helm history` has one
  revision per step (two for finish and for abort --delete-canary), and clients sending without
  pause see no failed request and no version the step in force does not allow;
- `shift` to a canary with no ready pod is refused before any upgrade, as on plain objects;
- a direct write to the release's RouteTable is refused naming the release; after --force-conflicts,
  `status` warns that Helm will undo it;
- a `helm upgrade` whose canary version is missing from `deployment` is refused by the webhook, Helm
  prints its message, and traffic is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.required import missing_tool

from . import tools
from .rollout import through
from .traffic import HEADER, Load, Step, judge

pytestmark = pytest.mark.usefixtures("webhook")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gloo-app"
SEED_VALUES = ROOT / "tests" / "data" / "seed-values"


@pytest.fixture(params=["helm", "helm4"])
def helm_bin(request, tmp_path_factory, monkeypatch, control_plane) -> Path:
    """The Helm under test, as `helm` on PATH (for the plugin's Helm mode), with its own config and cache."""
    binary = tools.tool(request.param)
    if not binary.exists():
        missing_tool(f"{request.param} not built at {binary}: run `bash tests/e2e/build-tools.sh`")
    home = tmp_path_factory.mktemp(request.param)
    (home / "bin").mkdir()
    (home / "bin" / "helm").symlink_to(binary)
    monkeypatch.setenv("PATH", f"{home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    return binary


def helm(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=400, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def seed_values(step: int, group: str) -> Path:
    """The seed's values-`step` with the test's api group (its own VirtualService) for `example`."""
    return SEED_VALUES / f"values-{step}.yaml" if group == "example" else _rewritten(step, group)


def _rewritten(step: int, group: str) -> Path:
    text = (SEED_VALUES / f"values-{step}.yaml").read_text(encoding="utf-8")
    path = Path(os.environ["HELM_DATA_HOME"]).parent / f"values-{step}-{group}.yaml"
    path.write_text(text.replace("apiGroup: example", f"apiGroup: {group}"), encoding="utf-8")
    return path


def release_values(binary: Path, name: str, ns: str) -> dict:
    return yaml.safe_load(helm(binary, "get", "values", name, "-n", ns, "-o", "yaml").stdout)


def revisions(binary: Path, name: str, ns: str) -> int:
    """The release's latest revision (`helm upgrade` keeps only the last 10 in its history)."""
    return max(int(r["revision"]) for r in json.loads(helm(binary, "history", name, "-n", ns, "-o", "json").stdout))


def test_the_seeds_helm_workflow_lands_where_the_seed_says(helm_bin, rollout, site, namespace, new_namespace):
    echo, foxtrot = rollout(namespace, "echo"), rollout(new_namespace("foxtrot"), "foxtrot")
    for svc in (echo, foxtrot):
        helm(helm_bin, "install", svc.service, str(CHART), "-n", svc.ns, "-f", str(seed_values(1, site.group)),
             "--wait")
    for svc in (echo, foxtrot):
        svc.healthy()
        svc.wait_for({"v1"}, {"v1"})
        svc.only("v1")

    def upgrade(step: int) -> None:
        helm(helm_bin, "upgrade", "echo", "--values", str(seed_values(step, site.group)), str(CHART), "-n",
             namespace, "--wait")
        echo.healthy()

    upgrade(2)  # v2 deployed, not routed: still v1 everywhere
    assert echo.pods("v2")
    echo.wait_for({"v1"}, {"v1"})
    echo.only("v1")

    upgrade(3)  # phase 1
    echo.wait_for({"v1"}, {"v2"})
    echo.only("v2", HEADER)
    echo.only("v1")
    foxtrot.only("v1", HEADER)

    upgrade(4)  # phase 2 at 50%
    echo.wait_for({"v1", "v2"}, {"v2"})
    echo.splits("v1", "v2", 0.5)
    echo.only("v2", HEADER)

    upgrade(5)  # all traffic to v2
    echo.wait_for({"v2"}, {"v2"})
    echo.only("v2")

    upgrade(6)  # v1 decommissioned
    echo.only("v2")
    echo.only("v2", HEADER)
    echo.gone("v1")
    foxtrot.only("v1")
    foxtrot.only("v1", HEADER)


def test_the_plugin_drives_the_release_through_the_seeds_values_without_a_failed_request(
        helm_bin, rollout, site, namespace):
    svc = rollout(namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", site.group, "--helm")
    want = yaml.safe_load(seed_values(1, site.group).read_text(encoding="utf-8"))
    assert release_values(helm_bin, "echo", namespace) == want
    assert revisions(helm_bin, "echo", namespace) == 1
    svc.healthy()
    svc.wait_for({"v1"}, {"v1"})
    status = svc.run("status", "echo", "-n", namespace).stdout
    assert "Release:     echo (Helm, revision 1, deployed" in status, status

    v1, both = {"v1"}, {"v1", "v2"}
    steps = [Step("init", 0.0, 0.0, frozenset({svc.version("v1")}), frozenset({svc.version("v1")}))]
    plan = [
        (2, ["start", "--version", "v2", "--no-route"], v1, v1, None, 1),
        (3, ["start", "--version", "v2"], v1, {"v2"}, None, 1),
        (4, ["shift", "--weight", "50"], both, {"v2"}, None, 1),
        (5, ["shift", "--weight", "100"], {"v2"}, {"v2"}, None, 1),
        (6, ["finish", "--drain-delay", "3"], {"v2"}, {"v2"}, "v1", 2),
    ]
    with Load(svc.gw.url, site.host, svc.path, clients=4) as load:
        for step, command, plain, header, gone, added in plan:
            before = revisions(helm_bin, "echo", namespace)
            through(svc, steps, " ".join(command), command, plain, header, gone)
            want = yaml.safe_load(seed_values(step, site.group).read_text(encoding="utf-8"))
            assert release_values(helm_bin, "echo", namespace) == want, f"after {command}"
            assert revisions(helm_bin, "echo", namespace) == before + added, f"helm history after {command}"
            if step == 2:
                shown = svc.run("status", "echo", "-n", namespace).stdout
                assert "Next:        canary v2 is deployed without traffic" in shown and "Drift:       none" in shown
        # A second release, rolled back from a weighted split: the traffic first, then v3 goes.
        before = revisions(helm_bin, "echo", namespace)
        through(svc, steps, "start v3", ["start", "--version", "v3"], {"v2"}, {"v3"})
        assert revisions(helm_bin, "echo", namespace) == before + 2, "v3 deployed first, then routed"
        through(svc, steps, "shift 30", ["shift", "--weight", "30"], {"v2", "v3"}, {"v3"})
        before = revisions(helm_bin, "echo", namespace)
        through(svc, steps, "abort --delete-canary", ["abort", "--delete-canary", "--drain-delay", "3"], {"v2"},
              {"v2"}, gone="v3")
        assert revisions(helm_bin, "echo", namespace) == before + 2
        time.sleep(1)
    want = yaml.safe_load(seed_values(6, site.group).read_text(encoding="utf-8"))
    assert release_values(helm_bin, "echo", namespace) == want
    records = load.records
    assert len(records) > 1000, f"too little load to show anything: {len(records)}"
    failures = judge(records, steps)
    assert not failures, f"{len(failures)} of {len(records)} requests failed or went astray:\n" + "\n".join(
        failures[:20])


def test_a_direct_write_to_the_release_is_refused_and_a_forced_one_is_flagged(
        helm_bin, rollout, site, namespace, kubectl_canary: Callable[..., subprocess.CompletedProcess[str]],
        monkeypatch):
    svc = rollout(namespace, "echo")
    helm(helm_bin, "install", "echo", str(CHART), "-n", namespace, "-f", str(seed_values(3, site.group)), "--wait")
    svc.healthy()
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "helm").exists()))
    refused = kubectl_canary("shift", "echo", "--weight", "20", "-n", namespace, check=False)
    assert refused.returncode == 1
    assert (f"RouteTable {namespace}/echo-routes of service echo belongs to Helm release echo" in refused.stderr
            and "helm is not on PATH" in refused.stderr and "--values FILE" in refused.stderr
            and "--force-conflicts" in refused.stderr), refused.stderr
    forced = kubectl_canary("shift", "echo", "--weight", "20", "-n", namespace, "--force-conflicts")
    assert "the next `helm upgrade echo` will undo it" in forced.stderr, forced.stderr
    monkeypatch.setenv("PATH", path)
    shown = kubectl_canary("status", "echo", "-n", namespace, check=False).stdout
    assert "the next `helm upgrade echo` will undo them" in shown, shown
    listed = kubectl_canary("list", "-n", namespace).stdout
    assert listed.splitlines()[0].split()[-1] == "RELEASE" and "echo (revision 1)" in listed, listed


def test_shift_through_the_release_gives_a_canary_with_no_ready_pod_no_weighted_traffic(
        helm_bin, rollout, site, namespace, kubectl_canary, tmp_path):
    svc = rollout(namespace, "echo")
    # The seed's values-3 (v2 behind the header), with a v2 whose readiness probe never passes.
    values = yaml.safe_load(seed_values(3, site.group).read_text(encoding="utf-8"))
    values["deployment"]["v2"] = {"readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 1}}
    unready = tmp_path / "values-3-unready.yaml"
    unready.write_text(yaml.safe_dump(values), encoding="utf-8")
    helm(helm_bin, "install", "echo", str(CHART), "-n", namespace, "-f", str(unready))
    svc.wait_for({"v1"}, {"v1"})  # header requests fall back to v1 while v2 has no ready pod
    refused = kubectl_canary("shift", "echo", "--weight", "50", "-n", namespace, check=False)
    assert refused.returncode == 1
    assert (f"canary v2 of service echo in namespace {namespace} has 0 of 1 pods ready" in refused.stderr
            and "--force" in refused.stderr), refused.stderr
    # Refused before any upgrade: the release, its values and the traffic are as they were.
    assert revisions(helm_bin, "echo", namespace) == 1
    assert release_values(helm_bin, "echo", namespace)["routes"]["canary"].get("weight") is None
    svc.only("v1", n=60)


def test_a_failed_upgrade_names_helms_message_and_the_rollback(helm_bin, rollout, site, namespace, kubectl_canary,
                                                               tmp_path):
    svc = rollout(namespace, "echo")
    helm(helm_bin, "install", "echo", str(CHART), "-n", namespace, "-f", str(seed_values(3, site.group)), "--wait")
    svc.healthy()
    svc.wait_for({"v1"}, {"v2"})
    # A chart whose RouteTable sends the primary's share to a version nothing serves: the webhook refuses it.
    broken = tmp_path / "gloo-app"
    shutil.copytree(CHART, broken)
    template = broken / "templates" / "_routetable.tpl"
    template.write_text(template.read_text().replace("(list $ $primary)", '(list $ "v-missing")'))
    failed = kubectl_canary("shift", "echo", "--weight", "20", "-n", namespace, "--chart", str(broken), check=False)
    assert failed.returncode == 1
    assert "error: helm upgrade echo failed:" in failed.stderr and "v-missing" in failed.stderr, failed.stderr
    assert f"restore revision 1 with `helm rollback echo 1 -n {namespace}`" in failed.stderr, failed.stderr
    svc.only("v1", n=60)
    svc.only("v2", HEADER, n=20)


def test_the_webhook_refuses_a_helm_upgrade_to_a_canary_nothing_serves(helm_bin, rollout, site, namespace, tmp_path):
    svc = rollout(namespace, "echo")
    helm(helm_bin, "install", "echo", str(CHART), "-n", namespace, "-f", str(seed_values(1, site.group)), "--wait")
    svc.healthy()
    svc.wait_for({"v1"}, {"v1"})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"deployment": {"v1": {}}, "routes": {
        "apiGroup": site.group, "primary": {"version": "v1"},
        "canary": {"version": "v9", "weight": 50, "headers": {"stage": "canary"}}}}), encoding="utf-8")
    refused = helm(helm_bin, "upgrade", "echo", str(CHART), "-n", namespace, "-f", str(bad), check=False)
    assert refused.returncode != 0
    assert "routetables.validate.kubectl-canary.io" in refused.stderr and "v9" in refused.stderr, refused.stderr
    svc.only("v1", n=100)
    svc.only("v1", HEADER, n=40)
