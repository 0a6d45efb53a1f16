"""A draft of the mutations to one object: each edit kept as a JSON Patch operation, the object never copied.

Mutators read the request's object and `set` each value they change; `get` answers with the value as
it is now, so a later mutator sees an earlier one's edits. The patch is the recorded operations, built
for `jsonpatch` (paths escaped by `jsonpointer`: a label key `a/b~c` is `a~1b~0c`), so a
mutation that changes nothing costs nothing: no deep copy and no diff of two objects. `mutated()`
applies the patch to a copy, for the callers that need the object itself (`review`, tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonpatch
from jsonpointer import escape

Part = str | int
# What `get` answers, given as its default, for a path that does not exist (a null value does).
MISSING: Any = object()


def _walk(value: Any, parts: Sequence[Part]) -> Any:
    """The value at `parts` below `value`, or MISSING where the path does not exist."""
    for part in parts:
        if isinstance(value, dict) and isinstance(part, str):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int):
            if not 0 <= part < len(value):
                return MISSING
            value = value[part]
        else:
            return MISSING
    return value


def pointer(parts: Sequence[Part]) -> str:
    """The JSON pointer to `parts`, each escaped by jsonpointer (RFC 6901: `~` is `~0`, `/` is `~1`). What
    `JsonPointer.from_parts(parts).path` says, without parsing the result back (a thousandth of a patch's cost
    went to that for each operation)."""
    return "".join("/" + escape(str(part)) for part in parts)


class Draft:
    """The edits of one request's mutators to `source` (which is never modified)."""

    def __init__(self, source: dict[str, Any]) -> None:
        self.source = source
        # path -> (order, value): the latest edit at a path or above it says what a value is now.
        self._edits: dict[tuple[Part, ...], tuple[int, Any]] = {}
        self._ops: list[dict[str, Any]] = []

    def get(self, *parts: Part, default: Any = None) -> Any:
        """The value at `parts` with the edits so far applied (`default` where there is none)."""
        latest, base, below = -1, self.source, parts
        for size in range(len(parts) + 1):
            edit = self._edits.get(parts[:size])
            if edit is not None and edit[0] > latest:
                (latest, base), below = edit, parts[size:]
        found = _walk(base, below)
        return default if found is MISSING else found

    def set(self, parts: Sequence[Part], value: Any, exists: bool | None = None) -> None:
        """Set the value at `parts`; its parent must exist (in the source or set before) and be an object
        or, for an int part, a list long enough. `exists` says whether the value is there already, when the
        caller knows (it saves looking)."""
        path = tuple(parts)
        if exists is None:
            exists = self.get(*path, default=MISSING) is not MISSING
        self._edits[path] = (len(self._ops), value)
        self._ops.append({"op": "replace" if exists else "add", "path": pointer(path), "value": value})

    @property
    def changed(self) -> bool:
        return bool(self._ops)

    @property
    def operations(self) -> tuple[dict[str, Any], ...]:
        """The edits as JSON Patch operations, in the order they were made (paths from `jsonpointer`)."""
        return tuple(self._ops)

    def patch(self) -> jsonpatch.JsonPatch:
        """The edits as one JSON Patch, in the order they were made."""
        return jsonpatch.JsonPatch(self._ops)

    def mutated(self) -> dict[str, Any]:
        """A copy of the source with the patch applied (the source itself when nothing changed)."""
        if not self._ops:
            return self.source
        result: dict[str, Any] = self.patch().apply(self.source)
        return result
