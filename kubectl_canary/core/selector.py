"""Label selectors for the stores that filter objects themselves (directory and memory).

The cluster filters by `labelSelector` on the server; the other stores need the same answer. This
covers the equality-based and existence forms kubectl accepts (`a=b`, `a==b`, `a!=b`, `a`, `!a`,
comma-separated); set-based forms (`in`, `notin`) are refused with a usage error, since the plugin
never sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubectl_canary.core.errors import UsageError

Requirement = Callable[[Mapping[str, str]], bool]


def _requirement(term: str) -> Requirement:
    if " in " in f" {term} " or " notin " in f" {term} " or "(" in term:
        raise UsageError(f"label selector {term!r}: set-based selectors are not supported here; use key=value")
    if "!=" in term:
        key, value = (p.strip() for p in term.split("!=", 1))
        return lambda labels: labels.get(key) != value
    if "=" in term:
        key, value = (p.strip() for p in term.replace("==", "=", 1).split("=", 1))
        return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    return lambda labels: term in labels


def matcher(selector: str | None) -> Requirement:
    """A predicate over a label map that is true when every term of `selector` holds (None matches all)."""
    terms = [t.strip() for t in (selector or "").split(",") if t.strip()]
    requirements = [_requirement(t) for t in terms]
    return lambda labels: all(r(labels) for r in requirements)
