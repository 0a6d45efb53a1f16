"""What the API server's answers say, beyond their status code: the `Warning` headers, the field
managers and fields of a 409 apply conflict, whether a 404 means "no such resource type", and whether a
field manager is a person's tool. Read by `ClusterStore` to print warnings and word its errors.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from typing import Any

from kubectl_canary.core import names

# `299 - "text"` (RFC 7234 warn-code, warn-agent, quoted warn-text, optional date); a header may hold several.
_WARNING = re.compile(r'(\d{3})\s+(\S+)\s+"((?:[^"\\]|\\.)*)"(?:\s+"[^"]*")?')
# A FieldManagerConflict cause: `conflict with "argocd-controller" using gateway.solo.io/v1`.
_CONFLICT = re.compile(r'conflicts? with "([^"]+)"(?: using (\S+))?')


def parse_warnings(values: Iterable[str]) -> list[str]:
    """The texts of `Warning` response headers, as kubectl prints them after `Warning: `."""
    found = []
    for value in values:
        for match in _WARNING.finditer(value):
            found.append(re.sub(r"\\(.)", r"\1", match.group(3)))
    return found


def people(manager: str) -> bool:
    """Whether a field manager is a person's tool (`kubectl apply`, `create`, `edit`, `patch`, ...), whose
    fields the plugin takes over, rather than a controller's (Argo CD, Flux, Helm), which it must not."""
    return manager == "kubectl" or (manager.startswith("kubectl-") and manager != names.MANAGER)


def conflict_managers(body: Any) -> tuple[str, ...]:
    """The field managers named by a 409 apply answer's `FieldManagerConflict` causes."""
    details = body.get("details") if isinstance(body, dict) else None
    causes = details.get("causes") if isinstance(details, dict) else None
    found = []
    for cause in causes if isinstance(causes, builtins.list) else []:
        match = _CONFLICT.search(str(cause.get("message") or "")) if isinstance(cause, dict) else None
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return tuple(found)


def conflict_lines(body: Any) -> builtins.list[str]:
    """One line per field another manager owns, from a 409 apply answer's `FieldManagerConflict` causes.

    The server's cause reads `conflict with "argocd-controller" using gateway.solo.io/v1` for field
    `.spec.routes`; this gives `.spec.routes: owned by "argocd-controller" (gateway.solo.io/v1)`.
    """
    details = body.get("details") if isinstance(body, dict) else None
    causes = details.get("causes") if isinstance(details, dict) else None
    lines = []
    for cause in causes if isinstance(causes, builtins.list) else []:
        if not isinstance(cause, dict) or cause.get("reason") != "FieldManagerConflict":
            continue
        match = _CONFLICT.search(str(cause.get("message") or ""))
        owner = f'"{match.group(1)}"' if match else "another manager"
        using = f" ({match.group(2)})" if match and match.group(2) else ""
        lines.append(f"{cause.get('field') or '(unnamed field)'}: owned by {owner}{using}")
    return lines


def unserved(body: Any) -> bool:
    """Whether a 404 answer says the path is not served at all (kube-apiserver's plain `404 page not found`
    for a resource type it does not know, as when a CRD is not installed), not that an object is missing
    (a `Status` with reason NotFound)."""
    return not (isinstance(body, dict) and body.get("kind") == "Status") and str(
        body.get("message") if isinstance(body, dict) else body).startswith("404 page not found")
