"""The bounds on what the webhook answers and logs: nesting, quoted values, messages, lists, log fields."""

from __future__ import annotations

import json
import logging

import pytest

from webhook.admission import limits
from webhook.logs import JsonLines


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"spec": {"routes": [{"x": 1}]}}, None),
        (nested(100), None),  # 100 objects, the innermost holding a number
        (nested(101), "a.a.a.a.a.a.…"),
        ({"spec": {"routes": [{}, nested(200)]}}, "spec.routes[1].a.a.a.…"),
        ([[[[]]]], None),
    ],
)
def test_too_deep_names_where(value, expected):
    assert limits.too_deep(value) == expected


def test_too_deep_does_not_recurse_on_100000_levels():
    assert limits.too_deep(nested(100_000)) is not None


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (42, "42"),
        (-7, "-7"),
        (10**29, "1" + "0" * 29),
        (int("9" * 4300), "a 4300-digit number"),
        (int("9" * 4300) * 11, "a 4302-digit number"),  # str() of this one raises ValueError
    ],
    ids=["small", "negative", "30-digits", "4300-digits", "4302-digits"],
)
def test_show_int_never_converts_a_huge_number(number, expected):
    assert limits.show_int(number) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v1", "'v1'"),
        ("x" * 100, "'" + "x" * 79 + "'…"),
        (None, "None"),
        ([1, 2], "a list of 2 items"),
        ({"a": 1}, "an object of 1 keys"),
        (1.5, "float"),
    ],
)
def test_show_quotes_a_value_briefly(value, expected):
    assert limits.show(value) == expected


def test_clip_cuts_a_huge_value_but_keeps_what_follows():
    text = f"Upstream echo/{'n' * 300_000} does not exist"
    clipped = limits.clip(text)
    assert clipped.endswith(" does not exist")
    assert "(300005 chars)" in clipped and len(clipped) < 120


def test_clip_cuts_the_whole_to_its_limit():
    clipped = limits.clip("word " * 1000, 50)
    assert len(clipped) == 50 and clipped.endswith("…")


@pytest.mark.parametrize(
    ("count", "expected"),
    [(5, ["a", "b", "c"]), (3, ["a", "b", "c"]), (2, ["a", "b", "and 1 more"])],
)
def test_capped_counts_what_it_leaves_out(count, expected):
    assert limits.capped(["a", "b", "c"], count) == expected


def test_show_numbers_lists_the_first_weights():
    assert limits.show_numbers([70, None, 30]) == "70,-,30"
    assert limits.show_numbers(list(range(3000))) == "0,1,2,3,4,5,6,7,8,9,… (3000 in all)"


def test_a_log_line_is_bounded_whatever_its_fields():
    record = logging.LogRecord("canary_webhook.requests", logging.INFO, __file__, 1, "validate denied", (), None)
    record.fields = {"uid": "u", "name": "n" * 3_000_000, "violations": [{"message": "m" * 5000}] * 5000,
                     "big": int("9" * 4300) * 11}
    line = JsonLines().format(record)
    assert len(line) <= limits.MAX_LOG_LINE
    entry = json.loads(line)
    assert entry["uid"] == "u" and entry["name"].startswith("nnn")
