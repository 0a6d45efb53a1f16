"""How an applied object lands on the one already stored, for stores that have no API server.

The cluster store writes by server-side apply, where the server keeps fields other managers set and
drops fields the plugin owned but no longer sends. The directory and memory stores emulate that
without managed fields, by a rule small enough to state: maps merge key by key; lists are replaced
whole, except a pod's `containers`, which merge by `name` (as server-side apply treats them) with
`args` always taken from the applied container; and labels and annotations under the plugin's
prefix (`kubectl-canary.io/`) that the applied object no longer carries are removed, since the
plugin owns them. So a team's extra fields in its manifests survive every command.
"""

from __future__ import annotations

import copy
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.kinds import Obj

_OWNED_KEY_MAPS = ("labels", "annotations")


def _merge_containers(live: list[Any], applied: list[Any]) -> list[Any]:
    by_name = {c.get("name"): c for c in live if isinstance(c, dict)}
    merged: list[Any] = []
    for container in applied:
        before = by_name.get(container.get("name")) if isinstance(container, dict) else None
        if before is None:
            merged.append(copy.deepcopy(container))
            continue
        out = _merge(before, container)
        if "args" not in container:
            out.pop("args", None)
        merged.append(out)
    return merged


def _merge(live: Any, applied: Any, key: str = "") -> Any:
    if isinstance(live, dict) and isinstance(applied, dict):
        out = copy.deepcopy(live)
        if key in _OWNED_KEY_MAPS:
            for stale in [k for k in out if k.startswith(names.PREFIX) and k not in applied]:
                del out[stale]
        for k, v in applied.items():
            out[k] = _merge(live.get(k), v, k)
        for k in _OWNED_KEY_MAPS:
            # A label or annotation map the applied object leaves out entirely loses the plugin's keys too.
            if k not in applied and isinstance(out.get(k), dict):
                out[k] = {n: v for n, v in out[k].items() if not n.startswith(names.PREFIX)}
                if not out[k]:
                    del out[k]
        return out
    if key == "containers" and isinstance(live, list) and isinstance(applied, list):
        return _merge_containers(live, applied)
    return copy.deepcopy(applied)


def merge_applied(live: Obj | None, applied: Obj) -> Obj:
    """The object stored after `applied` is applied over `live` (a copy; neither input changes)."""
    if live is None:
        return copy.deepcopy(applied)
    merged: Obj = _merge(live, applied)
    return merged
