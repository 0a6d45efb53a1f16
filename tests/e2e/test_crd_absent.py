"""A cluster without the CRDs, on a real kube-apiserver of its own: the session's cluster has Gloo's CRDs
from the start and the CanaryPolicy CRD from the first module that installs it, so these tests start a
second, bare one (etcd and kube-apiserver: nothing here needs a pod) and install the CRDs step by step.

- without Gloo's CRDs, the plugin names the kind the cluster does not serve and asks whether its CRDs are
  installed (tests/store/test_cluster_store.py shows the same against the stand-in API server);
- with Gloo's but without the CanaryPolicy CRD (it is optional), the plugin lists no policies and
  `status` says `Policy: none`, and the webhook's policy cache counts as synced and empty;
- once the CanaryPolicy CRD is installed, a policy created then is what both of them see.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy.render import CRD_FILE

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import CANARY_POLICY, ROUTETABLE, VIRTUAL_SERVICE
from kubectl_canary.store.cluster import ClusterStore
from kubectl_canary.store.kubeconfig import Connection
from webhook.cluster.cache import InformerLookup
from webhook.cluster.client import api_client

from . import tools
from .controlplane import CONTEXT, ControlPlane

NAMESPACE = "echo"
POLICY = """apiVersion: policy.kubectl-canary.io/v1alpha1
kind: CanaryPolicy
metadata:
  name: limits
spec:
  maxWeightStep: 25
"""


@pytest.fixture(scope="module")
def bare() -> Iterator[ControlPlane]:
    with ControlPlane(node=False) as cp:
        cp.kubectl("create", "namespace", NAMESPACE)
        yield cp


def plugin(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl canary ARGS` through the built kubectl, which finds the plugin on PATH."""
    scripts = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}", KUBECONFIG=str(cp.kubeconfig))
    return subprocess.run([str(tools.tool("kubectl")), "canary", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def store(cp: ControlPlane) -> ClusterStore:
    return ClusterStore(Connection(kubeconfig=str(cp.kubeconfig)))


def test_without_gloos_crds_the_plugin_names_what_the_cluster_does_not_serve(bare: ControlPlane) -> None:
    with pytest.raises(ClusterError) as err:
        store(bare).list(ROUTETABLE, NAMESPACE)
    assert str(err.value) == (f"the cluster of context {CONTEXT} does not serve routetables (gateway.solo.io/v1); "
                              "are its CRDs installed?")
    # Both optional kinds (their CRDs may be absent on a cluster the plugin works with) are simply empty.
    assert store(bare).list(CANARY_POLICY, None) == [] and store(bare).list(VIRTUAL_SERVICE, None) == []
    # Every command says so, before it writes anything: a RouteTable of a kind the cluster does not serve is
    # not "no RouteTable" (`status` would suggest `init`, and `init` would write the Service and Deployment
    # and then fail on the Upstream with kube-apiserver's bare "404 page not found").
    for args in (["list", "-A"], ["init", "echo", "--version", "v1", "-n", NAMESPACE], ["status", "echo"],
                 ["shift", "echo", "--weight", "10"]):
        shown = plugin(bare, *args, *([] if "-n" in args or "-A" in args else ["-n", NAMESPACE]))
        assert (shown.returncode, shown.stderr) == (1, f"error: the cluster of context {CONTEXT} does not serve "
                                                       "routetables (gateway.solo.io/v1); are its CRDs installed?\n")
    # nothing was written: init found out before its first write
    assert bare.kubectl("get", "deployments,services", "-n", NAMESPACE, "-o", "name").stdout == ""


def test_without_the_policy_crd_there_are_no_policies_until_it_is_installed(bare: ControlPlane) -> None:
    bare.install_crds([tools.gloo_crds_dir()])
    assert bare.kubectl("get", "crd", "-o", "name").stdout.count("solo.io") >= 4
    plugin_ok(bare, "init", "echo", "--version", "v1", "-n", NAMESPACE)
    shown = plugin(bare, "status", "echo", "-n", NAMESPACE)
    assert "Policy:      none" in shown.stdout.splitlines(), shown.stdout + shown.stderr
    assert "canarypolicies" not in shown.stderr, shown.stderr
    lookup = InformerLookup(api_client(str(bare.kubeconfig)), absent_retry=0.2)
    lookup.start()
    try:
        # The webhook's cache is ready without the optional CRD: there is nothing to wait for.
        assert lookup.wait_ready(60) and lookup.ready() and lookup.policies_cache.absent
        assert lookup.policies() == [] and lookup.policy_set() == ([], [])
        # Installed now, with a policy: the cache lists it, and so does the plugin.
        bare.install_crds([CRD_FILE])
        bare.kubectl("apply", "-f", "-", input=POLICY)
        deadline = time.monotonic() + 60
        while not lookup.policies() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [p["metadata"]["name"] for p in lookup.policies()] == ["limits"]
        assert [p.name for p in lookup.policy_set()[0]] == ["limits"]
    finally:
        lookup.stop()
    shown = plugin(bare, "status", "echo", "-n", NAMESPACE)
    assert "Policy:      limits (Enforce): maxWeightStep=25, allowCrossNamespaceUpstreams=false" in shown.stdout, (
        shown.stdout + shown.stderr)


def plugin_ok(cp: ControlPlane, *args: str) -> str:
    shown = plugin(cp, *args)
    assert shown.returncode == 0, f"kubectl canary {' '.join(args)}: {shown.stdout}{shown.stderr}"
    return shown.stdout
