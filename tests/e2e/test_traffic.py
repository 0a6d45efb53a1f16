"""The proof is traffic: the seed's curls through the real gateway (gloo + Envoy), with the real kubectl
running the plugin and the webhooks registered, land where each command says; and while a whole
rollout runs, several clients sending without pause see no failed request and no version the step
in force does not allow.

Each test gets its own VirtualService (domain `<group>.e2e`, delegating to its own apiGroup), so
tests never see each other's routes; requests carry that Host, as a client of a shared gateway does.
"""

from __future__ import annotations

import time

import pytest

from .rollout import through
from .traffic import HEADER, Load, Step, during, judge

pytestmark = pytest.mark.usefixtures("webhook")


def test_the_seeds_curls_land_where_each_command_says(rollout, site, namespace, new_namespace) -> None:
    echo, foxtrot = rollout(namespace, "echo"), rollout(new_namespace("foxtrot"), "foxtrot")
    for svc in (echo, foxtrot):
        svc.canary("init", "--version", "v1", "--api-group", site.group)
    for svc in (echo, foxtrot):
        svc.healthy()
        svc.wait_for({"v1"}, {"v1"})
        svc.only("v1")

    # Phase 1: the header reaches the canary, nothing else does.
    echo.canary("start", "--version", "v2")
    echo.healthy()
    echo.wait_for({"v1"}, {"v2"})
    echo.only("v2", HEADER)
    echo.only("v1")
    foxtrot.only("v1", HEADER)  # another service's routes are untouched

    # Phase 2: the split matches the weight.
    echo.canary("shift", "--weight", "50")
    echo.healthy()
    echo.wait_for({"v1", "v2"}, {"v2"})
    echo.splits("v1", "v2", 0.5)
    echo.only("v2", HEADER)

    echo.canary("shift", "--weight", "100")
    echo.healthy()
    echo.wait_for({"v2"}, {"v2"})
    echo.only("v2")

    echo.canary("finish")
    echo.healthy()
    echo.only("v2")
    echo.only("v2", HEADER)
    echo.gone("v1")

    # abort: all traffic back to the primary, from a weighted split.
    foxtrot.canary("start", "--version", "v2")
    foxtrot.canary("shift", "--weight", "30")
    foxtrot.healthy()
    foxtrot.wait_for({"v1", "v2"}, {"v2"})
    foxtrot.canary("abort")
    foxtrot.healthy()
    foxtrot.wait_for({"v1"}, {"v1"})
    foxtrot.only("v1")
    foxtrot.only("v1", HEADER)


def test_no_request_fails_while_a_rollout_runs(rollout, namespace) -> None:
    svc = rollout(namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", svc.site.group)
    svc.healthy()
    svc.wait_for({"v1"}, {"v1"})
    v1, both = {"v1"}, {"v1", "v2"}
    steps = [Step("init", 0.0, 0.0, frozenset({svc.version("v1")}), frozenset({svc.version("v1")}))]
    with Load(svc.gw.url, svc.site.host, svc.path, clients=4) as load:
        through(svc, steps, "start v2", ["start", "--version", "v2"], v1, {"v2"})
        for weight in (10, 50):
            through(svc, steps, f"shift {weight}", ["shift", "--weight", str(weight)], both, {"v2"})
        through(svc, steps, "shift 100", ["shift", "--weight", "100"], {"v2"}, {"v2"})
        through(svc, steps, "finish", ["finish"], {"v2"}, {"v2"}, gone="v1")
        # A second release, rolled back: abort --delete-canary from a weighted split.
        through(svc, steps, "start v3", ["start", "--version", "v3"], {"v2"}, {"v3"})
        through(svc, steps, "shift 30", ["shift", "--weight", "30"], {"v2", "v3"}, {"v3"})
        through(svc, steps, "abort --delete-canary", ["abort", "--delete-canary"], {"v2"}, {"v2"}, gone="v3")
        time.sleep(1)  # requests after the last step settled count too
    records = load.records
    by_step = during(records, steps)  # requests sent while each step was being taken, not after it
    assert len(by_step) == len(steps) - 1, by_step  # every step but init ran under load
    assert len(records) > 1000 and all(by_step.values()), f"too little load to show anything: {by_step}"
    failures = judge(records, steps)
    assert not failures, f"{len(failures)} of {len(records)} requests failed or went astray:\n" + "\n".join(
        failures[:20])


def test_status_timeout_gates_on_what_the_data_path_says(rollout, namespace) -> None:
    svc = rollout(namespace, "echo")
    svc.canary("init", "--version", "v1", "--api-group", svc.site.group)
    svc.canary("start", "--version", "v2")
    # Watches (the API's watch, not polling) until Gloo accepted everything and v2 has a ready endpoint.
    gated = svc.run("status", "echo", "-n", namespace, "--timeout", "120", check=False)
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert gated.stdout.rstrip().endswith("Problems:    none")
    svc.wait_for({"v1"}, {"v2"})

    # A version whose pods never run (an image this node cannot run) times out, naming why.
    web = rollout(namespace, "web")
    web.canary("init", "--version", "v1", "--api-group", svc.site.group, "--image", "nginx:1.27")
    stuck = web.run("status", "web", "-n", namespace, "--timeout", "5", check=False)
    assert stuck.returncode == 1
    assert stuck.stderr.startswith(f"error: timed out after 5s waiting for service web in namespace {namespace} to "
                                   "be healthy: v1: 0 ready endpoints"), stuck.stderr
