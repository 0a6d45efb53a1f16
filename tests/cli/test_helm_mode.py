"""Helm mode's pure parts: the order of a plan's edits across upgrades, and the flags helm gets. The
upgrades themselves run against a real cluster with Helm 3 and 4 in tests/e2e/test_helm.py."""

from __future__ import annotations

import pytest
import yaml

from kubectl_canary.cli.helm_mode import phases
from kubectl_canary.core.values_plan import values_abort, values_finish, values_start
from kubectl_canary.store.helm import _flags, default_chart, release_of
from kubectl_canary.store.kubeconfig import Connection
from tests.charts.chart import CHART, SEED_VALUES


def seed(step: int) -> dict:
    return yaml.safe_load((SEED_VALUES / f"values-{step}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("plan", "order"),
    [
        # From the seed's values-5, finish is two upgrades: the routes, then (after the drain) v1 goes.
        (values_finish(seed(5), "echo"), [["routes.primary.version", "routes.canary"], ["deployment.v1"]]),
        # A new version from stable: deployed (and waited for) before any route goes to it.
        (values_start(seed(1), "echo", "v2"), [["deployment.v2"], ["routes.canary"]]),
        (values_start(seed(2), "echo", "v2"), [["routes.canary"]]),
        (values_abort(seed(2), "echo", delete_canary=True), [["deployment.v2"]]),
        (values_abort(seed(4), "echo"), [["routes.canary"]]),
    ],
)
def test_a_plan_runs_as_added_versions_then_routes_then_removed_versions(plan, order):
    assert [[".".join(e.path) for e in step] for step in phases(plan.edits)] == order


def test_helm_gets_kubectls_connection_flags_in_its_own_spelling():
    flags = _flags(Connection(kubeconfig="k", context="dev", as_user="ann", as_groups=("ops", "dev"),
                              insecure_skip_tls_verify=True))
    assert flags == ["--kubeconfig=k", "--kube-context=dev", "--kube-as-user=ann", "--kube-as-group=ops",
                     "--kube-as-group=dev", "--kube-insecure-skip-tls-verify"]


def test_the_release_of_an_object_and_this_projects_chart():
    assert release_of({"metadata": {"annotations": {"meta.helm.sh/release-name": "echo"}}}) == "echo"
    assert release_of({"metadata": {}}) is None
    found = default_chart()
    assert found is not None and found.resolve() == CHART
