"""webhook.cluster.index: an Index files each object under the values its key function gives, and moves or drops it
as adds (ADDED, MODIFIED) and removes (DELETED) arrive; CompiledPolicies reads each policy as it arrives."""

from __future__ import annotations

from typing import Any

import pytest
from whsupport import dest, multi, routetable, single

from kubectl_canary.core.kinds import Obj
from kubectl_canary.core.routetable import UpstreamRef
from webhook.admission.lookup import upstreams_named
from webhook.cluster import index as index_module
from webhook.cluster.index import CompiledPolicies, Index


def labelled(name: str, *teams: str, rev: int = 1) -> Obj:
    """An object filed under every team in its `teams` annotation (a stand-in key function's input)."""
    return {"metadata": {"name": name, "annotations": {"teams": ",".join(teams), "rev": str(rev)}}}


def teams(obj: Obj) -> list[str]:
    found = obj["metadata"]["annotations"]["teams"]
    return found.split(",") if found else []


def shown(index: Index[str], value: str) -> list[str]:
    """`name@rev` of each object filed under `value`, in the index's order."""
    return [f"{o['metadata']['name']}@{o['metadata']['annotations']['rev']}" for o in index.get(value)]


A1, B1 = labelled("a", "red"), labelled("b", "red", "blue")


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([("add", "a", A1)], {"red": ["a@1"], "blue": []}, id="added"),
        pytest.param([("add", "a", A1), ("add", "a", labelled("a", "red", rev=2))], {"red": ["a@2"]},
                     id="modified, same values: the new version, once"),
        pytest.param([("add", "a", A1), ("add", "a", labelled("a", "blue", rev=2))], {"red": [], "blue": ["a@2"]},
                     id="modified, other values: moved"),
        pytest.param([("add", "b", B1)], {"red": ["b@1"], "blue": ["b@1"]}, id="two values: under both"),
        pytest.param([("add", "b", B1), ("add", "b", labelled("b", "blue", rev=2))], {"red": [], "blue": ["b@2"]},
                     id="a value dropped by an update"),
        pytest.param([("add", "a", A1), ("remove", "a", None)], {"red": []}, id="deleted"),
        pytest.param([("remove", "nobody", None)], {"red": []}, id="deleting an unknown key does nothing"),
        pytest.param([("add", "x", labelled("x"))], {"red": [], "": []}, id="no values: filed nowhere"),
        pytest.param([("add", "a", A1), ("add", "a", labelled("a", rev=2)), ("add", "a", labelled("a", "red", rev=3))],
                     {"red": ["a@3"]}, id="out of every value and back in"),
        pytest.param([("add", "a", A1), ("add", "b", B1), ("add", "a", labelled("a", "red", rev=2))],
                     {"red": ["a@2", "b@1"], "blue": ["b@1"]}, id="an update keeps its place"),
        pytest.param([("add", "a", A1), ("add", "b", B1), ("remove", "a", None), ("add", "a", A1)],
                     {"red": ["b@1", "a@1"]}, id="re-added after a delete: last"),
    ],
)
def test_an_index_follows_adds_updates_and_deletes(steps: list[tuple[str, str, Any]], expected: dict[str, list[str]]):
    index: Index[str] = Index(teams)
    for op, key, obj in steps:
        if op == "add":
            index.add(key, obj)
        else:
            index.remove(key)
    assert {value: shown(index, value) for value in expected} == expected


def test_get_answers_a_copy():
    index: Index[str] = Index(teams)
    index.add("a", A1)
    index.get("red").clear()
    assert shown(index, "red") == ["a@1"]


def test_routetables_are_filed_under_every_upstream_their_destinations_name():
    # single and multi destinations; a ref without namespace is the RouteTable's own; a repeated one counts once
    rt = routetable([single(dest("v1", name="a", namespace="other")),
                     multi([(dest("v1", name="b", namespace=None), 50), (dest("v2", name="b"), 50)])])
    index: Index[UpstreamRef] = Index(upstreams_named)
    index.add("echo/echo-routes", rt)
    assert [ref for ref in (UpstreamRef("other", "a"), UpstreamRef("echo", "b"), UpstreamRef("echo", "a"))
            if index.get(ref)] == [UpstreamRef("other", "a"), UpstreamRef("echo", "b")]
    index.add("echo/echo-routes", routetable([single(dest("v1", name="c"))]))
    assert (index.get(UpstreamRef("other", "a")), index.get(UpstreamRef("echo", "b"))) == ([], [])
    assert index.get(UpstreamRef("echo", "c")) == [routetable([single(dest("v1", name="c"))])]


def cpol(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "policy.kubectl-canary.io/v1alpha1", "kind": "CanaryPolicy",
            "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("steps", "readable", "unreadable"),
    [
        pytest.param([("add", cpol("b")), ("add", cpol("a"))], ["a", "b"], [], id="sorted by name"),
        pytest.param([("add", cpol("a", maxWeightStep=10)), ("add", cpol("a", bogus=1))], [], ["a"],
                     id="an update that breaks it"),
        pytest.param([("add", cpol("a", bogus=1)), ("add", cpol("a"))], ["a"], [], id="an update that mends it"),
        pytest.param([("add", cpol("a")), ("add", cpol("b")), ("remove", "b")], ["a"], [], id="deleted"),
        pytest.param([("remove", "a")], [], [], id="deleting an unknown one"),
    ],
)
def test_compiled_policies_follow_adds_updates_and_deletes(steps, readable, unreadable):
    compiled = CompiledPolicies()
    for op, arg in steps:
        if op == "add":
            compiled.add(arg["metadata"]["name"], arg)
        else:
            compiled.remove(arg)
    policies, bad = compiled.current
    assert ([p.name for p in policies], [u.name for u in bad]) == (readable, unreadable)


def test_compiled_policies_are_read_when_delivered_not_when_asked(monkeypatch):
    calls: list[int] = []
    real = index_module.read_policies

    def counting(objects):
        objects = list(objects)
        calls.append(len(objects))
        return real(objects)

    monkeypatch.setattr(index_module, "read_policies", counting)
    compiled = CompiledPolicies()
    compiled.add("a", cpol("a", maxWeightStep=10))
    compiled.add("b", cpol("b"))
    before = compiled.current
    for _ in range(3):
        assert compiled.current is before
    assert calls == [1, 1]  # each object read once, as it arrived
    compiled.remove("b")
    assert calls == [1, 1] and [p.name for p in compiled.current[0]] == ["a"]
    assert [p.name for p in before[0]] == ["a", "b"]  # a reader's earlier set is left whole
