"""The mutators' draft: edits kept as JSON Patch operations over an object that is never copied."""

from __future__ import annotations

import copy

import jsonpatch
import pytest
from jsonpointer import JsonPointer

from webhook.admission.draft import MISSING, Draft, pointer

SOURCE = {"metadata": {"name": "rt", "labels": {"team": "a"}}, "spec": {"routes": [{"w": 1}, "not an object"]}}


@pytest.mark.parametrize(
    ("edits", "operations"),
    [
        ([], []),
        ([(("metadata", "labels", "apiGroup"), "g")],
         [{"op": "add", "path": "/metadata/labels/apiGroup", "value": "g"}]),
        ([(("metadata", "labels", "team"), "b")], [{"op": "replace", "path": "/metadata/labels/team", "value": "b"}]),
        # keys with '/' and '~' are escaped by jsonpointer, as RFC 6901 says
        ([(("metadata", "labels", "a/b~c"), "x")], [{"op": "add", "path": "/metadata/labels/a~1b~0c", "value": "x"}]),
        ([(("spec", "routes", 0, "w"), 25)], [{"op": "replace", "path": "/spec/routes/0/w", "value": 25}]),
        # a value set earlier is there for the next edit, which goes below it
        ([(("metadata", "annotations"), {}), (("metadata", "annotations", "k"), "v")],
         [{"op": "add", "path": "/metadata/annotations", "value": {}},
          {"op": "add", "path": "/metadata/annotations/k", "value": "v"}]),
    ],
)
def test_edits_become_the_operations_that_make_them(edits, operations):
    draft = Draft(copy.deepcopy(SOURCE))
    for parts, value in edits:
        draft.set(parts, value)
    assert list(draft.operations) == operations
    assert draft.changed is bool(operations)
    expected = copy.deepcopy(SOURCE)
    jsonpatch.apply_patch(expected, operations, in_place=True)
    assert draft.mutated() == expected


def test_the_source_is_never_modified_and_no_edit_means_no_copy():
    source = copy.deepcopy(SOURCE)
    draft = Draft(source)
    assert draft.mutated() is source
    draft.set(("metadata", "labels", "apiGroup"), "g")
    assert source == SOURCE
    assert draft.mutated()["metadata"]["labels"] == {"team": "a", "apiGroup": "g"}


@pytest.mark.parametrize(
    ("parts", "found"),
    [
        (("metadata", "labels", "team"), "b"),  # edited
        (("metadata", "labels", "apiGroup"), "g"),  # below a value set whole
        (("metadata", "name"), "rt"),  # untouched
        (("spec", "routes", 1, "w"), MISSING),  # below a value that is no object
        (("spec", "routes", 7), MISSING),
    ],
)
def test_get_answers_with_the_edits_so_far(parts, found):
    draft = Draft(copy.deepcopy(SOURCE))
    draft.set(("metadata", "labels"), {"team": "b", "apiGroup": "g"})
    answer = draft.get(*parts, default=MISSING)
    assert answer is MISSING if found is MISSING else answer == found


PARTS = [("a",), ("a/b~c", 0, "x"), ("", "~1"), ("metadata", "labels", "kubectl-canary.io/x")]


@pytest.mark.parametrize("parts", PARTS, ids=str)
def test_pointers_are_the_ones_jsonpointer_makes(parts):
    assert pointer(parts) == JsonPointer.from_parts(parts).path
