"""`kubectl canary` behaving as kubectl does, through the built kubectl and a real kube-apiserver:

- impersonation: `--as` a user who may read but not patch RouteTables gets the API server's Forbidden
  message (the one kubectl prints), exit 1, nothing written; `--as-group` a group that may patch works;
- `--server` and `--token` with a ServiceAccount's token and no kubeconfig at all (a pipeline's way);
  a wrong token is refused as unauthorized;
- `--request-timeout` against a loopback port that accepts connections and never answers: a clear
  timeout error instead of a hang;
- server-side apply conflicts: a field another manager owns (`kubectl apply --server-side
  --field-manager argocd-controller`) stops `shift` with exit 1, naming the manager and the field, and
  nothing is written; `--force-conflicts` takes the field over;
- `status --watch` redraws when the service changes (the watch API), by the plugin or by anyone else;
- shell completion through kubectl's own plugin completion (`kubectl __complete canary ...` runs
  kubectl_complete-canary from PATH), with the services of the real cluster.

No admission webhook is registered here: these are the plugin's and the API server's behaviours alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import tools
from .controlplane import ControlPlane, written

Run = Callable[..., subprocess.CompletedProcess[str]]
Obj = dict[str, Any]


def routetable(control_plane: ControlPlane, namespace: str) -> Obj:
    found: Obj = json.loads(control_plane.kubectl("get", "routetable", "echo-routes", "-n", namespace,
                                                  "-o", "json", "--show-managed-fields").stdout)
    return found


def weight(rt: Obj) -> str | None:
    value: str | None = rt["metadata"].get("annotations", {}).get("kubectl-canary.io/weight")
    return value


@pytest.fixture
def canary(kubectl_canary: Run, namespace: str) -> str:
    """Service echo in `namespace` with primary v1 and canary v2 in phase header (weight 0)."""
    kubectl_canary("init", "echo", "--version", "v1", "--api-group", "example", "-n", namespace)
    kubectl_canary("start", "echo", "--version", "v2", "-n", namespace)
    return namespace


def grant(control_plane: ControlPlane, namespace: str, name: str, verbs: str, subject: list[str]) -> None:
    """A Role `name` with `verbs` on RouteTables (and reading Deployments), bound to `subject` flags."""
    control_plane.kubectl("create", "role", name, "-n", namespace, f"--verb={verbs}",
                          "--resource=routetables.gateway.solo.io", "--resource=deployments.apps")
    control_plane.kubectl("create", "rolebinding", name, "-n", namespace, f"--role={name}", *subject)


# ---- impersonation ---------------------------------------------------------------------------------


def test_as_a_user_who_may_not_patch_gets_kubectls_forbidden_and_nothing_is_written(
    control_plane: ControlPlane, kubectl_canary: Run, canary: str
) -> None:
    grant(control_plane, canary, "viewer", "get,list", ["--user=viewer"])
    before = routetable(control_plane, canary)
    result = kubectl_canary("shift", "echo", "--weight", "20", "-n", canary, "--as", "viewer", check=False)
    assert result.returncode == 1
    # kubectl's own refusal of the same write, as the same impersonated user, for comparison.
    patch = control_plane.kubectl("patch", "routetable", "echo-routes", "-n", canary, "--as", "viewer",
                                  "--type=merge", "-p", '{"metadata":{"annotations":{"x":"y"}}}', check=False)
    forbidden = patch.stderr.strip().removeprefix("Error from server (Forbidden): ")
    assert forbidden == (f'routetables.gateway.solo.io "echo-routes" is forbidden: User "viewer" cannot patch '
                         f'resource "routetables" in API group "gateway.solo.io" in the namespace "{canary}"')
    assert result.stderr.startswith("error: forbidden: context canary-e2e as viewer may not apply RouteTable ")
    assert f"({forbidden})" in result.stderr and result.stderr.count("\n") == 1
    assert written(routetable(control_plane, canary)) == written(before)


def test_as_group_impersonates_the_groups_that_rbac_allows(
    control_plane: ControlPlane, kubectl_canary: Run, canary: str
) -> None:
    grant(control_plane, canary, "operators", "get,list,patch", ["--group=canary-operators"])
    refused = kubectl_canary("shift", "echo", "--weight", "20", "-n", canary, "--as", "jane", check=False)
    assert refused.returncode == 1 and 'User "jane" cannot list resource "routetables"' in refused.stderr
    kubectl_canary("shift", "echo", "--weight", "20", "-n", canary, "--as", "jane",
                   "--as-group", "developers", "--as-group", "canary-operators")
    assert weight(routetable(control_plane, canary)) == "20"


# ---- a ServiceAccount token and the server's address, without a kubeconfig ------------------------


def test_server_and_token_of_a_service_account_without_a_kubeconfig(
    control_plane: ControlPlane, kubectl_canary: Run, canary: str, tmp_path: Path
) -> None:
    control_plane.kubectl("create", "serviceaccount", "deployer", "-n", canary)
    grant(control_plane, canary, "deployer", "get,list,patch", [f"--serviceaccount={canary}:deployer"])
    token = control_plane.kubectl("create", "token", "deployer", "-n", canary, "--duration=10m").stdout.strip()
    flags = ["--server", control_plane.server, "--certificate-authority", str(control_plane.dir / "ca.crt")]
    nothing = tmp_path / "no-kubeconfig"  # KUBECONFIG names a file that does not exist
    shifted = kubectl_canary("shift", "echo", "--weight", "30", "-n", canary, *flags, "--token", token,
                             kubeconfig=nothing)
    assert shifted.stdout == "routetable.gateway.solo.io/echo-routes configured\n"
    assert weight(routetable(control_plane, canary)) == "30"

    refused = kubectl_canary("shift", "echo", "--weight", "40", "-n", canary, *flags, "--token", "not-a-token",
                             kubeconfig=nothing, check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: unauthorized: the cluster of context (--server {control_plane.server}) "
                                     "rejected the credentials")
    assert weight(routetable(control_plane, canary)) == "30"


# ---- --request-timeout -----------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """https://127.0.0.1:PORT where the kernel accepts connections (listen backlog) and nobody answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"


def test_request_timeout_against_a_server_that_does_not_answer(
    kubectl_canary: Run, silent_server: str, tmp_path: Path
) -> None:
    result = kubectl_canary("status", "echo", "-n", "default", "--server", silent_server, "--insecure-skip-tls-verify",
                            "--request-timeout", "1s", kubeconfig=tmp_path / "none", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the cluster of context (--server {silent_server}) did not answer within 1s to list routetables "
        "in namespace default; "
        "check that the API server is up, or allow longer with --request-timeout\n"
    )


# ---- server-side apply conflicts -------------------------------------------------------------------


def test_a_field_another_manager_owns_stops_shift_until_force_conflicts(
    control_plane: ControlPlane, kubectl_canary: Run, canary: str
) -> None:
    # A GitOps controller applies the RouteTable's routes as they are now, becoming a manager of them.
    current = routetable(control_plane, canary)
    gitops = {"apiVersion": current["apiVersion"], "kind": "RouteTable",
              "metadata": {"name": "echo-routes", "namespace": canary}, "spec": {"routes": current["spec"]["routes"]}}
    control_plane.kubectl("apply", "--server-side", "--field-manager", "argocd-controller", "-f", "-",
                          input=yaml.safe_dump(gitops))
    before = written(routetable(control_plane, canary))

    refused = kubectl_canary("shift", "echo", "--weight", "25", "-n", canary, check=False)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: cannot apply RouteTable {canary}/echo-routes: 1 field(s) already have another field manager:",
        '  .spec.routes: owned by "argocd-controller"',
        "re-run with --force-conflicts to take them over (the other manager may change them back on its next sync), "
        "or make this change through that manager",
    ]
    assert written(routetable(control_plane, canary)) == before
    # kubectl, applying a change of the routes as the same field manager, names the same manager and field.
    kubectl_says = control_plane.kubectl("apply", "--server-side", "--field-manager", "kubectl-canary",
                                         "--dry-run=server", "-f", "-",
                                         input=yaml.safe_dump({**gitops, "spec": {"routes": []}}), check=False)
    assert kubectl_says.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "argocd-controller": .spec.routes\n')

    kubectl_canary("shift", "echo", "--weight", "25", "-n", canary, "--force-conflicts")
    after = routetable(control_plane, canary)
    assert weight(after) == "25"
    owners = {m["manager"]: json.dumps(m.get("fieldsV1", {})) for m in after["metadata"]["managedFields"]}
    assert '"f:routes"' in owners["kubectl-canary"]
    assert '"f:routes"' not in owners.get("argocd-controller", "")


# ---- completion through kubectl ------------------------------------------------------------------


def kubectl_complete(control_plane: ControlPlane, *words: str) -> list[str]:
    """`kubectl __complete canary WORDS...`: kubectl's completion, which runs kubectl_complete-canary from PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               KUBECONFIG=str(control_plane.kubeconfig))
    proc = subprocess.run([str(tools.tool("kubectl")), "__complete", "canary", *words], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.splitlines()


def test_kubectl_completes_the_plugin_with_the_clusters_services(control_plane: ControlPlane, canary: str) -> None:
    commands = kubectl_complete(control_plane, "s")
    assert [line.split("\t")[0] for line in commands] == ["shift", "start", "status", ":4"]
    assert kubectl_complete(control_plane, "shift", "-n", canary, "") == ["echo", ":4"]
    assert canary in kubectl_complete(control_plane, "status", "-n", canary[:12])
    assert kubectl_complete(control_plane, "shift", "--we") == [
        "--weight\tThe canary's share (0..100) of the requests without the header.", ":4"]


# ---- status --watch ---------------------------------------------------------------------------------


def test_status_watch_redraws_when_the_service_changes(
    control_plane: ControlPlane, kubectl_canary: Run, canary: str
) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               KUBECONFIG=str(control_plane.kubeconfig))
    watcher = subprocess.Popen([str(tools.tool("kubectl")), "canary", "status", "echo", "-n", canary, "--watch"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout or []], daemon=True).start()

    def until(pattern: str, seconds: float = 25.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                if re.search(pattern, lines.get(timeout=0.5)):
                    return
        raise AssertionError(f"status --watch printed no line matching {pattern!r} within {seconds}s")

    try:
        until(r"^Phase:\s+header")
        kubectl_canary("shift", "echo", "--weight", "35", "-n", canary)
        until(r"^v2\s+canary\s+35%")
        # A change made by someone else (kubectl, a GitOps controller) shows too: drift in the annotations.
        control_plane.kubectl("annotate", "routetable", "echo-routes", "-n", canary, "--overwrite",
                              "kubectl-canary.io/weight=50")
        until(r"(?i)drift")
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
