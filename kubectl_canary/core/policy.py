"""Platform policy: a CanaryPolicy read into a `Policy` value, and which policies govern a namespace.

A CanaryPolicy (cluster-scoped, `policy.kubectl-canary.io/v1alpha1`) governs the namespaces its
`namespaceSelector` selects (all when absent), except its `exemptNamespaces`. Reading is strict: a
malformed or unknown field is an `InvalidObject` naming the policy and the field, since a misspelt rule
must not be silently ignored. How several governing policies merge is `kubectl_canary.core.effective`;
the analyses of a RouteTable change that the rules judge are `kubectl_canary.core.traffic`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubectl_canary.core.analysis_policy import ANALYSIS, AnalysisDefaults, parse_analysis
from kubectl_canary.core.errors import InvalidObject
from kubectl_canary.core.kinds import CANARY_POLICY, Obj, labels_of
from kubectl_canary.core.selector import LabelSelector, label_selector

ENFORCE: Final = "Enforce"
WARN: Final = "Warn"
AUDIT: Final = "Audit"
ENFORCEMENTS: Final = (ENFORCE, WARN, AUDIT)  # the strictest first

# The spec fields, named as in the CRD: messages, metrics and status name them so.
NAMESPACE_SELECTOR: Final = "namespaceSelector"
EXEMPT_NAMESPACES: Final = "exemptNamespaces"
API_GROUP: Final = "apiGroup"
ENFORCEMENT: Final = "enforcement"
MAX_WEIGHT_STEP: Final = "maxWeightStep"
REQUIRE_HEADER_PHASE: Final = "requireHeaderPhase"
PREFIXES: Final = "prefixes"
CROSS_NAMESPACE: Final = "allowCrossNamespaceUpstreams"
FIELDS: Final = (NAMESPACE_SELECTOR, EXEMPT_NAMESPACES, API_GROUP, ENFORCEMENT, MAX_WEIGHT_STEP,
                 REQUIRE_HEADER_PHASE, PREFIXES, CROSS_NAMESPACE, ANALYSIS)

PLACEHOLDER: Final = "{namespace}"
# The API server labels every Namespace with its own name, so selectors can pick namespaces by name;
# a Namespace read from a directory may lack it, so it is added where it is missing.
METADATA_NAME: Final = "kubernetes.io/metadata.name"
_LABEL_VALUE: Final = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")



def expand(prefix: str, namespace: str) -> str:
    """`prefix` with `{namespace}` replaced by `namespace`."""
    return prefix.replace(PLACEHOLDER, namespace)



@dataclass(frozen=True)
class Policy:
    """One CanaryPolicy, with the CRD's defaults applied (enforcement Enforce, no cross-namespace Upstreams)."""

    name: str
    namespace_selector: LabelSelector | None = None
    exempt_namespaces: tuple[str, ...] = ()
    api_group: str | None = None
    enforcement: str = ENFORCE
    max_weight_step: int | None = None
    require_header_phase: bool = False
    prefixes: tuple[str, ...] | None = None
    allow_cross_namespace_upstreams: bool = False
    # Defaults for `shift --step` analysis (`core.analysis_policy`); None without the section.
    analysis: AnalysisDefaults | None = None

    def governs(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether the policy applies to `namespace`, whose Namespace carries `labels`."""
        if namespace in self.exempt_namespaces:
            return False
        return self.namespace_selector is None or self.namespace_selector.matches(labels)

    def allowed_prefixes(self, namespace: str) -> tuple[str, ...] | None:
        """The prefixes with `{namespace}` expanded; None when the policy allows any."""
        return None if self.prefixes is None else tuple(expand(p, namespace) for p in self.prefixes)

    def rules(self, namespace: str) -> list[str]:
        """What the policy imposes on `namespace`, as `field=value` in the CRD's names (for status)."""
        found = []
        if self.api_group is not None:
            found.append(f"{API_GROUP}={self.api_group}")
        if self.max_weight_step is not None:
            found.append(f"{MAX_WEIGHT_STEP}={self.max_weight_step}")
        if self.require_header_phase:
            found.append(f"{REQUIRE_HEADER_PHASE}=true")
        allowed = self.allowed_prefixes(namespace)
        if allowed is not None:
            found.append(f"{PREFIXES}={','.join(allowed) or '(none)'}")
        found.append(f"{CROSS_NAMESPACE}={str(self.allow_cross_namespace_upstreams).lower()}")
        return found + (self.analysis.rules() if self.analysis else [])

    def to_dict(self, namespace: str) -> dict[str, Any]:
        """The policy as `status -o json|yaml` shows it: every field, prefixes expanded for `namespace`."""
        allowed = self.allowed_prefixes(namespace)
        return {
            "name": self.name,
            ENFORCEMENT: self.enforcement,
            API_GROUP: self.api_group,
            MAX_WEIGHT_STEP: self.max_weight_step,
            REQUIRE_HEADER_PHASE: self.require_header_phase,
            PREFIXES: list(allowed) if allowed is not None else None,
            CROSS_NAMESPACE: self.allow_cross_namespace_upstreams,
        }


# -- reading ------------------------------------------------------------------------------------


def _bool(spec: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise InvalidObject(f"{where}.{key} must be true or false, not {value!r}")
    return value


def _string_list(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidObject(f"{where}.{key} must be a list of non-empty strings")
    return tuple(value)


def _api_group(spec: Mapping[str, Any], where: str) -> str | None:
    value = spec.get(API_GROUP)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise InvalidObject(f"{where}.{API_GROUP} must be a label value (63 characters at most), not {value!r}")
    return value


def _step(spec: Mapping[str, Any], where: str) -> int | None:
    value = spec.get(MAX_WEIGHT_STEP)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise InvalidObject(f"{where}.{MAX_WEIGHT_STEP} must be an integer from 1 to 100, not {value!r}")
    return value


def parse_policy(obj: Mapping[str, Any]) -> Policy:
    """The Policy a CanaryPolicy object states; InvalidObject naming the policy and field when it is malformed.

    The CRD's schema refuses these already; policies read from files (`review --state`, `--files`)
    have no schema in front of them. An unknown field is refused too: a misspelt rule must not be
    silently ignored.
    """
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidObject(f"a {CANARY_POLICY.kind} without metadata.name")
    where = f"{CANARY_POLICY.kind} {name}: spec"
    spec = obj.get("spec") if obj.get("spec") is not None else {}
    if not isinstance(spec, dict):
        raise InvalidObject(f"{where} must be an object")
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise InvalidObject(f"{where}.{unknown[0]} is not a {CANARY_POLICY.kind} field (known: {', '.join(FIELDS)})")
    enforcement = spec.get(ENFORCEMENT, ENFORCE)
    if enforcement not in ENFORCEMENTS:
        raise InvalidObject(f"{where}.{ENFORCEMENT} must be one of {', '.join(ENFORCEMENTS)}, not {enforcement!r}")
    prefixes = _string_list(spec, PREFIXES, where)
    if prefixes is not None and not all(p.startswith("/") for p in prefixes):
        raise InvalidObject(f"{where}.{PREFIXES}: every prefix starts with '/', e.g. /{PLACEHOLDER}")
    selector = spec.get(NAMESPACE_SELECTOR)
    return Policy(
        name=name,
        namespace_selector=None if selector is None else label_selector(selector, f"{where}.{NAMESPACE_SELECTOR}"),
        exempt_namespaces=_string_list(spec, EXEMPT_NAMESPACES, where) or (),
        api_group=_api_group(spec, where),
        enforcement=str(enforcement),
        max_weight_step=_step(spec, where),
        require_header_phase=_bool(spec, REQUIRE_HEADER_PHASE, where, False),
        prefixes=prefixes,
        allow_cross_namespace_upstreams=_bool(spec, CROSS_NAMESPACE, where, False),
        analysis=parse_analysis(spec.get(ANALYSIS), where),
    )


@dataclass(frozen=True)
class Unreadable:
    """A policy object that could not be read: its name (as far as known) and why."""

    name: str
    error: str


def read_policies(objects: Iterable[Mapping[str, Any]]) -> tuple[list[Policy], list[Unreadable]]:
    """The policies among `objects` (sorted by name), and the ones that could not be read."""
    found, bad = [], []
    for obj in objects:
        try:
            found.append(parse_policy(obj))
        except InvalidObject as err:
            meta = obj.get("metadata")
            bad.append(Unreadable(str(meta.get("name") or "") if isinstance(meta, dict) else "", str(err)))
    return sorted(found, key=lambda p: p.name), bad


def namespace_labels(namespace: str, namespace_obj: Obj | None) -> dict[str, str]:
    """The labels a Namespace's selectors see: its own, plus the name label the API server always sets."""
    labels = labels_of(namespace_obj) if namespace_obj else {}
    labels.setdefault(METADATA_NAME, namespace)
    return labels


def governing(policies: Iterable[Policy], namespace: str, namespace_obj: Obj | None) -> tuple[Policy, ...]:
    """The policies that govern `namespace` (its Namespace object gives the labels; None when unknown)."""
    labels = namespace_labels(namespace, namespace_obj)
    return tuple(sorted((p for p in policies if p.governs(namespace, labels)), key=lambda p: p.name))


