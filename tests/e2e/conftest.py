"""Fixtures for the end-to-end tests: every test under tests/e2e is marked `e2e` and can use one
session-wide local cluster (etcd, kube-apiserver and kube-controller-manager built from source by
build-tools.sh, our node agent running the pods, the Gloo Edge CRDs installed, and the real gloo
control plane with Envoy as the gateway), the built kubectl, and a fresh namespace per test. The
first run builds the tools (minutes); later runs reuse the cache. The whole run lives in a network
namespace of its own (tests/e2e/netns.sh, used by `make test`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import tools
from .controlplane import ControlPlane
from .gateway import GLOO_NAMESPACE, Gateway
from .rollout import Rollout, Site, virtual_service
from .webhook import WebhookProcess, register, unregister

E2E_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test against a real local kube-apiserver")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the items of the whole session, so only mark the ones in this directory.
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _ensure_built_uncaptured(config: pytest.Config) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    # Let a cold build's progress reach the terminal instead of pytest's capture buffer.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        tools.ensure_built()


def pytest_collection_finish(session: pytest.Session) -> None:
    # Build before the first test, not inside a fixture, so a cold build (minutes) is not cut
    # short by a per-test timeout. Only when e2e tests were selected.
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("e2e") for item in session.items):
        _ensure_built_uncaptured(session.config)


@pytest.fixture(scope="session")
def world(pytestconfig: pytest.Config) -> Iterator[tuple[ControlPlane, Gateway]]:
    """The session's cluster with the Gloo CRDs installed and Established, and its gateway (gloo and
    Envoy) serving: one world for every e2e test, so all of them see Gloo write its statuses."""
    _ensure_built_uncaptured(pytestconfig)  # a no-op when pytest_collection_finish built them
    with ControlPlane() as cp:
        cp.install_crds([tools.gloo_crds_dir()])
        gw = Gateway(cp)
        try:
            gw.start()
            yield cp, gw
        finally:
            gw.stop()


@pytest.fixture(scope="session")
def control_plane(world: tuple[ControlPlane, Gateway]) -> ControlPlane:
    """The running cluster (see `world`)."""
    return world[0]


@pytest.fixture(scope="session")
def gateway(world: tuple[ControlPlane, Gateway]) -> Gateway:
    """The running gateway: requests to `gateway.url` go through Envoy, configured by gloo."""
    return world[1]


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Callable[..., object]:
    """control_plane.kubectl: kubectl("get", "ns", user=None, check=True, input=None) -> CompletedProcess."""
    return control_plane.kubectl


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    """The admin (system:masters) kubeconfig; its context is "canary-e2e"."""
    return control_plane.kubeconfig


@pytest.fixture
def new_namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """new_namespace(tag) creates a uniquely named namespace for this test; all are deleted afterwards."""
    made: list[str] = []

    def make(tag: str = "") -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", f"{tag} {request.node.name}".lower()).strip("-")[:40].strip("-")
        name = f"e2e-{slug}-{secrets.token_hex(3)}"
        control_plane.kubectl("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        # The namespace controller removes the contents (pods included) in the background.
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(new_namespace: Callable[[str], str]) -> str:
    """A new, uniquely named namespace for this test, deleted afterwards."""
    return new_namespace("")


# ---- the admission webhook and the plugin through kubectl (test_workflow.py, test_plugin_cluster.py) ----



@pytest.fixture(scope="session")
def webhook_process(control_plane: ControlPlane) -> Iterator[WebhookProcess]:
    """A running `canary-webhook serve` (tests/e2e/webhook.py) watching the session's cluster, with
    `--default-api-group example`; not registered with the API server (see the `webhook` fixture)."""
    with WebhookProcess(control_plane.kubeconfig, default_api_group="example") as hook:
        yield hook


@pytest.fixture(scope="module")
def webhook(control_plane: ControlPlane, webhook_process: WebhookProcess) -> Iterator[WebhookProcess]:
    """The webhook, registered through deploy/base's configurations for this module's tests.

    Module scope: the configurations (failurePolicy Fail for every RouteTable of the cluster) are
    deleted again afterwards, so other modules' RouteTable writes are not judged by the webhook.
    """
    if not webhook_process.running:  # a test that stopped it failed before restarting it
        webhook_process.start()
    register(control_plane, webhook_process)
    yield webhook_process
    unregister(control_plane)


@pytest.fixture(scope="session")
def kubectl_canary(control_plane: ControlPlane) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs `kubectl canary ARGS` through the built kubectl, which finds the plugin on PATH:
    kubectl_canary(*args, kubeconfig=None, check=True) -> CompletedProcess[str] (text)."""
    scripts = Path(sys.executable).parent  # the venv's bin: kubectl-canary and canary-webhook

    def run(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PATH=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
                   KUBECONFIG=str(kubeconfig or control_plane.kubeconfig),
                   KUBECACHEDIR=str(control_plane.dir / "kube-cache"))
        cmd = [str(tools.tool("kubectl")), "canary", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


# ---- the data path (test_traffic*.py) ---------------------------------------------------------------


@pytest.fixture
def site(control_plane: ControlPlane, namespace: str) -> Iterator[Site]:
    """This test's own VirtualService, for the api group named after its namespace (unique, a valid label)."""
    vs = virtual_service(namespace)
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(vs))
    yield Site(namespace, f"{namespace}.e2e")
    control_plane.kubectl("delete", "virtualservice", "-n", GLOO_NAMESPACE, vs["metadata"]["name"], check=False)


@pytest.fixture
def rollout(
    kubectl_canary: Callable[..., subprocess.CompletedProcess[str]], control_plane: ControlPlane, gateway: Gateway,
    site: Site,
) -> Callable[[str, str], Rollout]:
    """rollout(namespace, service): a Rollout of `service` on this test's site."""

    def make(ns: str, service: str) -> Rollout:
        return Rollout(kubectl_canary, control_plane, gateway, site, ns, service)

    return make
