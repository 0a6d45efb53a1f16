"""A container's environment and command line, resolved as the kubelet resolves them: `envFrom`
(ConfigMaps and Secrets, with `prefix`), then `env` (`value` with `$(VAR)` expansion, `valueFrom`
with `secretKeyRef`, `configMapKeyRef`, `fieldRef`), then `$(VAR)` expansion of `command` and `args`
with the result. A reference that cannot be resolved (a missing Secret, ConfigMap or key that is not
`optional`) raises ConfigError with the kubelet's message; the agent then leaves the container
waiting in `CreateContainerConfigError` and tries again.

Pods, containers, Secrets and ConfigMaps are plain dicts with the API's camelCase keys.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

# (kind, namespace, name) -> the object, or None when it does not exist
Lookup = Callable[[str, str, str], dict[str, Any] | None]

# What the kubelet accepts as a variable name from envFrom (others are skipped, with an event).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ConfigError(Exception):
    """A container's configuration refers to something that does not exist (kubelet's message)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a defined VAR is replaced, an undefined one stays as written,
    `$$` is a literal `$` (k8s.io/kubernetes third_party/forked/golang/expansion)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(" and ")" in text[i + 2:]:
            end = text.index(")", i + 2)
            name = text[i + 2:end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def decoded(kind: str, obj: dict[str, Any]) -> dict[str, bytes]:
    """The key -> bytes of a ConfigMap (data and binaryData) or Secret (base64 data)."""
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def source(lookup: Lookup, kind: str, namespace: str, name: str, optional: bool) -> dict[str, bytes] | None:
    """A ConfigMap's or Secret's contents; None if it is missing and optional, else ConfigError."""
    obj = lookup(kind, namespace, name)
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    return decoded(kind, obj)


def field_value(pod: dict[str, Any], path: str) -> str:
    """A `fieldRef.fieldPath` of the pod, as the downward API gives it."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""), "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    match = _LABEL_PATH.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldPath: {path}")


def _value_from(pod: dict[str, Any], ref: dict[str, Any], lookup: Lookup) -> str | None:
    ns = pod["metadata"]["namespace"]
    for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        if field in ref:
            sel = ref[field]
            optional = bool(sel.get("optional"))
            data = source(lookup, kind, ns, sel["name"], optional)
            if data is None:
                return None
            if sel["key"] not in data:
                if optional:
                    return None
                raise ConfigError(f"couldn't find key {sel['key']} in {kind} {ns}/{sel['name']}")
            return data[sel["key"]].decode()
    if "fieldRef" in ref:
        return field_value(pod, ref["fieldRef"]["fieldPath"])
    raise ConfigError(f"unsupported valueFrom {sorted(ref)} (this test node resolves secretKeyRef, "
                      "configMapKeyRef and fieldRef)")


def environment(pod: dict[str, Any], container: dict[str, Any], lookup: Lookup) -> dict[str, str]:
    """The container's variables in the kubelet's order: envFrom sources, then env entries."""
    env: dict[str, str] = {}
    ns = pod["metadata"]["namespace"]
    for src in container.get("envFrom") or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if field in src:
                data = source(lookup, kind, ns, src[field]["name"], bool(src[field].get("optional")))
                for key, raw in (data or {}).items():
                    name = src.get("prefix", "") + key
                    if _ENV_NAME.match(name):
                        env[name] = raw.decode()
    for var in container.get("env") or []:
        if "valueFrom" in var:
            value = _value_from(pod, var["valueFrom"], lookup)
            if value is None:
                continue
            env[var["name"]] = value
        else:
            env[var["name"]] = expand(var.get("value", ""), env)
    return env


def command_line(container: dict[str, Any], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The container's command and args with `$(VAR)` expanded (either may be empty: the image's)."""
    return ([expand(a, env) for a in container.get("command") or []],
            [expand(a, env) for a in container.get("args") or []])
