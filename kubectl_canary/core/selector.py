"""Label selectors: the string form the stores filter by, and the structured `LabelSelector` of policies.

The cluster filters by `labelSelector` on the server; the directory and memory stores need the same
answer. `matcher` covers the equality-based and existence forms kubectl accepts (`a=b`, `a==b`, `a!=b`,
`a`, `!a`, comma-separated); set-based forms (`in`, `notin`) are refused with a usage error, since the
plugin never sends them. `LabelSelector` is the object form Kubernetes uses in specs (`matchLabels` and
`matchExpressions` with In, NotIn, Exists, DoesNotExist), as a CanaryPolicy's `namespaceSelector`
holds it: `label_selector` reads it from a dict and `LabelSelector.matches` applies the API server's
semantics (every term must hold; an empty selector matches everything).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from kubectl_canary.core.errors import InvalidObject, UsageError

Requirement = Callable[[Mapping[str, str]], bool]

IN: Final = "In"
NOT_IN: Final = "NotIn"
EXISTS: Final = "Exists"
DOES_NOT_EXIST: Final = "DoesNotExist"
OPERATORS: Final = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)


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


@dataclass(frozen=True)
class Expression:
    """One `matchExpressions` entry: `key` `operator` `values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator == NOT_IN:
            # Kubernetes: a label that is absent is "not in" any set.
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        """kubectl's string form: `env in (a,b)`, `env notin (a)`, `env`, `!env`."""
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator.lower()} ({','.join(self.values)})"
        return self.key if self.operator == EXISTS else f"!{self.key}"


@dataclass(frozen=True)
class LabelSelector:
    """A `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Expression, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            e.matches(labels) for e in self.match_expressions
        )

    def __str__(self) -> str:
        """kubectl's string form (`team=web,env in (a,b)`); empty for the selector that matches everything."""
        return ",".join([f"{k}={v}" for k, v in self.match_labels] + [str(e) for e in self.match_expressions])


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidObject(f"{where} must be a list of strings")
    return tuple(value)


def _expression(value: object, where: str) -> Expression:
    if not isinstance(value, dict):
        raise InvalidObject(f"{where} must be an object with key, operator and values")
    key, operator = value.get("key"), value.get("operator")
    if not isinstance(key, str) or not key:
        raise InvalidObject(f"{where}.key must be a non-empty string")
    if operator not in OPERATORS:
        raise InvalidObject(f"{where}.operator must be one of {', '.join(OPERATORS)}, not {operator!r}")
    values = _strings(value.get("values") or [], f"{where}.values")
    if operator in (IN, NOT_IN) and not values:
        raise InvalidObject(f"{where}: operator {operator} needs values")
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        raise InvalidObject(f"{where}: operator {operator} takes no values")
    return Expression(key, str(operator), values)


def label_selector(value: object, where: str) -> LabelSelector:
    """The LabelSelector in `value` (a dict as in a spec); InvalidObject naming `where` when it is malformed."""
    if not isinstance(value, dict):
        raise InvalidObject(f"{where} must be a label selector (matchLabels, matchExpressions)")
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidObject(f"{where}.matchLabels must map label keys to string values")
    expressions = value.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise InvalidObject(f"{where}.matchExpressions must be a list")
    return LabelSelector(
        tuple(sorted(labels.items())),
        tuple(_expression(e, f"{where}.matchExpressions[{i}]") for i, e in enumerate(expressions)),
    )
