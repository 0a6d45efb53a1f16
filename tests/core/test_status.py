"""The status model: phase, weights by the routes, Deployments, drift lines, and the list summaries."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import seed_objects, service_objects

from kubectl_canary.core import names
from kubectl_canary.core.errors import NotFound
from kubectl_canary.core.routes import RouteState
from kubectl_canary.core.snapshot import snapshot_of
from kubectl_canary.core.status import render_table, status_of
from kubectl_canary.core.summary import Summary, render_list, summary_of

STABLE = RouteState("v1")
WEIGHTED = RouteState("v1", "v2", 30, (("stage", "canary"),))


def status(objs):
    return status_of(snapshot_of("echo", "echo", objs))


def rows(st):
    return [(v.version, v.role, v.weight, v.header, v.deployment, v.ready, v.desired) for v in st.versions]


def test_weighted_status_reads_weights_from_the_routes():
    objs = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    objs[-2]["status"] = {"readyReplicas": 1}
    objs[-1]["status"] = {}
    st = status(objs)
    assert (st.phase, st.primary, st.canary, st.weight, st.headers) == ("weighted", "v1", "v2", 30,
                                                                        (("stage", "canary"),))
    assert rows(st) == [("v1", "primary", 70, False, "echo-v1", 1, 1), ("v2", "canary", 30, True, "echo-v2", 0, 1)]
    assert st.drift == () and st.api_group == "example"


def test_versions_without_traffic_are_listed_after_the_routed_ones():
    st = status(service_objects(STABLE, {"v0": None, "v1": "primary", "v2": "canary"}))
    assert [(v.version, v.role, v.weight) for v in st.versions] == [("v1", "primary", 100), ("v0", None, None),
                                                                    ("v2", None, None)]
    assert st.phase == "stable" and st.weight is None


@pytest.mark.parametrize(
    ("edit", "drift"),
    [
        (lambda o: o[2]["metadata"]["annotations"].update({names.WEIGHT: "50"}),
         "annotation kubectl-canary.io/weight is '50' but the routes say '30'"),
        (lambda o: o[2]["metadata"]["annotations"].pop(names.PHASE),
         "annotation kubectl-canary.io/phase is missing; the routes say 'weighted'"),
        (lambda o: o.pop(), "Deployment echo/echo-v2 does not exist, but the routes send traffic to canary v2"),
        (lambda o: o[-1]["metadata"]["annotations"].update({names.ROLE: "primary"}),
         "Deployment echo/echo-v2 has role primary but the routes make v2 the canary"),
    ],
)
def test_drift_between_intent_and_routes_is_one_line_each(edit, drift):
    objs = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    edit(objs)
    assert status(objs).drift == (drift,)


def test_stable_with_a_leftover_canary_annotation_and_an_old_primary():
    objs = service_objects(STABLE, {"v0": "primary", "v1": "primary"})
    objs[2]["metadata"]["annotations"][names.CANARY] = "v2"
    assert status(objs).drift == (
        "annotation kubectl-canary.io/canary is 'v2' but the routes have no canary",
        "Deployment echo/echo-v0 has role primary but receives no traffic; "
        "`kubectl canary finish echo` completes the earlier finish",
    )


def test_a_hand_edited_routetable_is_reported_not_refused():
    objs = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    objs[2]["spec"]["routes"][1]["routeAction"]["multi"]["destinations"].append(
        {"destination": {"upstream": {"name": "echo"}, "subset": {"values": {"version": "v3"}}}, "weight": 5})
    st = status(objs)
    assert st.phase == "unmanaged" and st.primary is None
    assert "route /echo splits traffic 3 ways, expected primary and canary" in st.drift[0]
    assert [(v.version, v.header) for v in st.versions] == [("v1", False), ("v2", True)]


def test_the_seed_chart_objects_read_as_header_phase_with_role_drift():
    st = status(seed_objects(3))
    assert (st.phase, st.primary, st.canary, st.weight) == ("header", "v1", "v2", 0)
    assert any("annotation kubectl-canary.io/phase is missing" in d for d in st.drift)
    assert any("has role none but the routes make v1 the primary" in d for d in st.drift)


def test_unknown_service_says_how_to_create_it():
    with pytest.raises(NotFound) as err:
        status([])
    assert str(err.value) == (
        "service echo not found in namespace echo: no RouteTable there routes to Upstream echo/echo; "
        "create the service with `kubectl canary init echo --version V`, or bring one that runs already under "
        "kubectl-canary with `kubectl canary adopt echo --version V`"
    )


def test_render_table_and_dict():
    objs = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    objs[-2]["status"] = {"readyReplicas": 1}
    st = status(objs)
    text = render_table(st)
    assert "Phase:       weighted" in text and "Header:      stage=canary -> v2" in text
    assert "v1        primary   70%      -        echo-v1      1/1" in text
    assert "v2        canary    30%      yes      echo-v2      -/1" in text
    assert text.endswith("Drift:       none")
    data = st.to_dict()
    assert data["headers"] == {"stage": "canary"} and data["versions"][1]["readyReplicas"] is None
    assert data["routeTable"] == "echo-routes" and data["policies"] is None


def test_render_table_lists_drift_and_missing_deployments():
    objs = service_objects(WEIGHTED, {"v1": "primary"})
    text = render_table(status(objs))
    assert "echo-v1" in text and "missing" in text
    assert "Drift:\n  - Deployment echo/echo-v2 does not exist" in text


@pytest.mark.parametrize(
    ("state", "summary"),
    [
        (STABLE, Summary("echo", "echo", "stable", "v1", None, None)),
        (WEIGHTED, Summary("echo", "echo", "weighted", "v1", "v2", 30)),
        (RouteState("v1", "v2", 0, (("a", "b"),)), Summary("echo", "echo", "header", "v1", "v2", 0)),
    ],
)
def test_summary_of(state, summary):
    assert summary_of(service_objects(state, {})[2]) == summary


def test_summary_of_an_unmanaged_routetable():
    rt = service_objects(STABLE, {})[2]
    rt["spec"]["routes"] = []
    assert summary_of(rt).phase == "unmanaged"


def test_render_list():
    summaries = [Summary("echo", "echo", "weighted", "v1", "v2", 30), Summary("fox", "foxtrot", "stable", "v7", None,
                                                                              None)]
    assert render_list(summaries, all_namespaces=True).splitlines() == [
        "NAMESPACE   SERVICE   PHASE      PRIMARY   CANARY   WEIGHT",
        "echo        echo      weighted   v1        v2       30",
        "fox         foxtrot   stable     v7        -        -",
    ]
    assert render_list(summaries[:1], all_namespaces=False).splitlines()[0].startswith("SERVICE")


def test_an_unrouted_canary_deployment_is_the_next_step_not_drift():
    # The seed's values-2 (`start --no-route`): a state of the workflow.
    st = status(service_objects(STABLE, {"v1": "primary", "v2": "canary"}))
    assert st.drift == ()
    assert st.steps == (
        "canary v2 is deployed without traffic (start --no-route); route header traffic to it with "
        "`kubectl canary start echo --version v2`, or remove it with `kubectl canary abort echo --delete-canary`",
    )
    assert "Next:        canary v2 is deployed without traffic" in render_table(st)


def test_list_shows_the_helm_release_of_a_service_and_its_revision():
    rt = seed_objects(4)[-1]
    rt["metadata"]["annotations"] = {names.HELM_RELEASE: "echo", names.SERVICE_ANNOTATION: "echo"}
    plain = summary_of(seed_objects(1)[-1])
    helm = summary_of(rt)
    assert (helm.release, helm.to_dict()["release"]) == ("echo", "echo") and "release" not in plain.to_dict()
    lines = render_list([dataclasses.replace(helm, revision=4), plain], all_namespaces=False).splitlines()
    assert lines[0].split() == ["SERVICE", "PHASE", "PRIMARY", "CANARY", "WEIGHT", "RELEASE"]
    assert lines[1].split()[-3:] == ["echo", "(revision", "4)"] and lines[2].split()[-1] == "-"
    assert "RELEASE" not in render_list([plain], all_namespaces=False)
