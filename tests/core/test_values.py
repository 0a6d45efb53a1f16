"""core.values: the seed's values read as canary states, and each command's edits, on plain dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kubectl_canary.core.clone import Changes
from kubectl_canary.core.errors import InvalidObject, StateConflict, UsageError
from kubectl_canary.core.routes import RouteState
from kubectl_canary.core.values import ValuesPlan, apply_edits, read_state
from kubectl_canary.core.values_plan import values_abort, values_finish, values_init, values_shift, values_start
from tests.charts.chart import SEED_VALUES


def seed(step: int) -> dict[str, Any]:
    return yaml.safe_load((SEED_VALUES / f"values-{step}.yaml").read_text(encoding="utf-8"))


def applied(values: dict[str, Any], plan: ValuesPlan) -> dict[str, Any]:
    out = copy.deepcopy(values)
    apply_edits(out, plan.edits)
    return out


@pytest.mark.parametrize(
    ("step", "versions", "state", "unrouted"),
    [
        (1, ("v1",), RouteState("v1"), ()),
        (2, ("v1", "v2"), RouteState("v1"), ("v2",)),
        (3, ("v1", "v2"), RouteState("v1", "v2", 0, (("stage", "canary"),)), ()),
        (4, ("v1", "v2"), RouteState("v1", "v2", 50, (("stage", "canary"),)), ()),
        (5, ("v1", "v2"), RouteState("v1", "v2", 100, (("stage", "canary"),)), ()),
        (6, ("v2",), RouteState("v2"), ()),
    ],
)
def test_the_seed_values_read_as_states(step, versions, state, unrouted):
    found = read_state(seed(step))
    assert (found.versions, found.routes, found.unrouted(), found.api_group) == (versions, state, unrouted, "example")


@pytest.mark.parametrize(
    ("before", "command", "after"),
    [
        (None, lambda v: values_init(v, "echo", "v1", "example"), 1),
        (1, lambda v: values_start(v, "echo", "v2", no_route=True), 2),
        (2, lambda v: values_start(v, "echo", "v2"), 3),
        (1, lambda v: values_start(v, "echo", "v2"), 3),
        (3, lambda v: values_shift(v, "echo", 50), 4),
        (4, lambda v: values_shift(v, "echo", 100), 5),
        (5, lambda v: values_finish(v, "echo"), 6),
        (4, lambda v: values_finish(v, "echo"), 5),
        (3, lambda v: values_abort(v, "echo"), 2),
        (4, lambda v: values_abort(v, "echo"), 2),
        (4, lambda v: values_abort(v, "echo", delete_canary=True), 2),
        (2, lambda v: values_abort(v, "echo", delete_canary=True), 1),
        (1, lambda v: values_init(v, "echo", "v1", "example"), 1),
    ],
)
def test_each_command_turns_one_seed_step_into_the_next(before, command, after):
    values = {} if before is None else seed(before)
    assert applied(values, command(values)) == seed(after)


@pytest.mark.parametrize(
    ("step", "command", "again"),
    [
        (4, lambda v: values_finish(v, "echo"), "run `kubectl canary finish echo` again"),
        (3, lambda v: values_finish(v, "echo"), "run `kubectl canary finish echo` again"),
        (3, lambda v: values_abort(v, "echo", delete_canary=True), "run `kubectl canary abort echo --delete-canary`"),
    ],
)
def test_a_version_that_still_takes_traffic_is_not_removed_in_the_same_values(step, command, again):
    plan = command(seed(step))
    assert plan.again and again in plan.messages[0]
    assert set(read_state(applied(seed(step), plan)).versions) == set(read_state(seed(step)).versions)


def test_finish_keep_old_keeps_the_old_version_deployed_without_traffic():
    out = applied(seed(4), values_finish(seed(4), "echo", keep_old=True))
    assert read_state(out).routes == RouteState("v2") and list(out["deployment"]) == ["v1", "v2"]


def test_start_copies_the_primary_settings_with_the_changes():
    values = {"deployment": {"v1": {"image": "shop:1", "env": [{"name": "A", "value": "1"}], "replicas": 3}},
              "routes": {"primary": {"version": "v1"}}}
    out = applied(values, values_start(values, "echo", "v2", Changes.parse(["shop:2"], ["B=2"], 1), no_route=True))
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert out["deployment"]["v2"] == {"image": "shop:2", "env": env, "replicas": 1}
    assert out["deployment"]["v1"]["image"] == "shop:1"


def test_start_with_other_headers_changes_only_the_header_rule():
    out = applied(seed(4), values_start(seed(4), "echo", "v2", headers=(("x-canary", "yes"),)))
    assert out["routes"]["canary"] == {"version": "v2", "weight": 50, "headers": {"x-canary": "yes"}}


@pytest.mark.parametrize(
    ("values", "command", "error", "message"),
    [
        (3, lambda v: values_start(v, "echo", "v3"), StateConflict, "a canary is already in progress"),
        (2, lambda v: values_start(v, "echo", "v3"), StateConflict, "canary v2 deployed without a route"),
        (1, lambda v: values_start(v, "echo", "v1"), StateConflict, "already the primary"),
        (1, lambda v: values_shift(v, "echo", 10), StateConflict, "no canary in progress"),
        (1, lambda v: values_finish(v, "echo"), StateConflict, "nothing to finish"),
        (1, lambda v: values_init(v, "echo", "v2"), StateConflict, "already exists"),
        ({}, lambda v: values_start(v, "echo", "v2"), StateConflict, "routes.primary.version is not set"),
        ({"deployment": {"v1": {}},
          "routes": {"primary": {"version": "v1"}, "canary": {"version": "v2", "weight": 300}}},
         lambda v: values_shift(v, "echo", 10), InvalidObject, "routes.canary.weight is 300"),
        ({"deployment": ["v1"], "routes": {}}, lambda v: values_shift(v, "echo", 10), InvalidObject,
         "deployment is list, expected a map"),
        ({"deployment": {"v1": {}}, "routes": {"primary": {"version": "v1"}, "canary": {"version": "v2"}}},
         lambda v: values_shift(v, "echo", 10), StateConflict, "canary v2 of service echo is not under deployment"),
        (1, lambda v: values_start(v, "echo", "v2", Changes.parse(["side=img:2"])), UsageError, "one container"),
    ],
)
def test_bad_requests_are_refused_naming_what_to_do(values, command, error, message):
    with pytest.raises(error, match=message):
        command(seed(values) if isinstance(values, int) else values)
