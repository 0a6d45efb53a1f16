"""`ClusterStore`: objects in a Kubernetes cluster, through the official kubernetes client.

The kubernetes client is imported inside `ClusterStore` only (it costs about half a second), so
`--help` and `--files` runs never load it. A `--dry-run=client` run against a cluster does: it reads
the current objects to predict the result (deliberately; it still writes nothing). Configuration
follows kubectl: `--kubeconfig`, else the `KUBECONFIG` paths merged (the first file to set a context,
or the current context, wins), else `~/.kube/config`, else the in-cluster service account;
`--context` picks a context, whose namespace is the default one. Requests are built from `Kind`
(group, version, plural) and sent with `ApiClient.call_api`, which returns the raw response, so the
`Warning` headers can be read (the generated API methods drop them). Writes are server-side apply
(field manager `kubectl-canary`, force), `--dry-run=server` adds `dryRun=All`, and deletes propagate
in the background. Listing a kind whose CRD is optional (CanaryPolicy) where the cluster does not
serve it finds nothing.
"""

from __future__ import annotations

import builtins
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from kubectl_canary.core import names
from kubectl_canary.core.errors import CanaryError, ClusterError
from kubectl_canary.core.kinds import CANARY_POLICY, VIRTUAL_SERVICE, Kind, Obj, ObjectRef
from kubectl_canary.store import kind_of

APPLY_PATCH = "application/apply-patch+yaml"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# What RBAC calls each verb of the store, for the hint in a "forbidden" message.
_RBAC_VERB = {"get": "get", "list": "list", "apply": "patch", "delete": "delete"}
# `299 - "text"` (RFC 7234 warn-code, warn-agent, quoted warn-text, optional date); a header may hold several.
_WARNING = re.compile(r'(\d{3})\s+(\S+)\s+"((?:[^"\\]|\\.)*)"(?:\s+"[^"]*")?')
# RBAC refusals read `... is forbidden: User "x" cannot patch resource ...`; admission denials differ.
_RBAC_DENIAL = re.compile(r'forbidden: (User|Group|ServiceAccount)? ?"[^"]*" cannot ')
# Kinds whose CRD a cluster may lack: listing them there finds none instead of failing.
OPTIONAL_KINDS = (CANARY_POLICY, VIRTUAL_SERVICE)


def resource_path(kind: Kind, namespace: str | None, name: str | None = None) -> str:
    """The REST path of a collection (no name) or an object: `/apis/G/V/namespaces/N/PLURAL/NAME`."""
    path = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{kind.plural}"
    return path + (f"/{quote(name, safe='')}" if name else "")


def parse_warnings(values: Iterable[str]) -> list[str]:
    """The texts of `Warning` response headers, as kubectl prints them after `Warning: `."""
    found = []
    for value in values:
        for match in _WARNING.finditer(value):
            found.append(re.sub(r"\\(.)", r"\1", match.group(3)))
    return found


def _kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ClusterError(f"kubeconfig {kubeconfig} not found; pass an existing file to --kubeconfig")
        return [path]
    listed = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in listed.split(os.pathsep) if p and Path(p).expanduser().is_file()]


def _read_kubeconfigs(paths: list[Path]) -> tuple[str | None, dict[str, Any]]:
    """kubectl's merge rule for what this store needs: the first current-context, the first of each context."""
    current: str | None = None
    contexts: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ClusterError(f"cannot read kubeconfig {path}: {err}") from err
        current = current or data.get("current-context") or None
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") not in contexts:
                contexts[str(entry.get("name"))] = entry.get("context") or {}
    return current, contexts


class ClusterStore:
    """A `Store` over the cluster of a kubeconfig context (or the in-cluster service account)."""

    live = True

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, timeout: float = 30.0) -> None:
        from kubernetes import client, config  # lazily: see the module docstring

        self.warnings: builtins.list[str] = []
        self.timeout = (min(timeout, 10.0), timeout)
        configuration = client.Configuration()
        paths = _kubeconfig_paths(kubeconfig)
        if not paths and not context and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            self.context = "in-cluster"
            ns_file = SERVICE_ACCOUNT / "namespace"
            self.default_namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
        else:
            if not paths:
                raise ClusterError(
                    "no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a cluster; "
                    "pass --kubeconfig, or use --files DIR to work on manifests"
                )
            current, contexts = _read_kubeconfigs(paths)
            self.context = context or current or ""
            if self.context not in contexts:
                where = os.pathsep.join(str(p) for p in paths)
                raise ClusterError(
                    f"context {self.context!r} not found in kubeconfig {where}; pick one with --context"
                    if self.context else f"kubeconfig {where} has no current context; pick one with --context"
                )
            self.default_namespace = str(contexts[self.context].get("namespace") or "default")
            try:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=os.pathsep.join(str(p) for p in paths),
                    context=self.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            except config.ConfigException as err:
                raise ClusterError(f"cannot use context {self.context}: {err}") from err
        configuration.retries = 2
        self.api = client.ApiClient(configuration)
        self.api.user_agent = f"{names.MANAGER}/0.1.0"

    def describe(self) -> str:
        return f"context {self.context}"

    def _request(
        self, verb: str, what: str, method: str, path: str, query: list[tuple[str, str]] | None = None,
        body: Any = None, content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Send one request; return the status and the decoded body. Unreachable clusters raise ClusterError."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            request = self.api.param_serialize(
                method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(*request, _request_timeout=self.timeout)
            data = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as err:
            reason = getattr(err, "reason", None) or err
            raise ClusterError(
                f"cannot reach the cluster of context {self.context} to {verb} {what}: {reason}; "
                "check that the cluster is running or choose another --context/--kubeconfig"
            ) from err
        self.warnings.extend(parse_warnings(response.headers.getlist("Warning")))
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data.decode("utf-8", "replace")}
        return response.status, decoded

    def _refused(self, status: int, body: Any, verb: str, what: str, kind: Kind, namespace: str | None) -> CanaryError:
        """The domain error for an unsuccessful answer (the server's message is kept verbatim)."""
        message = str(body.get("message") or body.get("reason") or "") if isinstance(body, dict) else str(body)
        if status == 401:
            return ClusterError(
                f"unauthorized: the cluster of context {self.context} rejected the credentials to {verb} {what}; "
                "log in again or pick another --context"
            )
        if status == 403 and (_RBAC_DENIAL.search(message) or not message):
            resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
            scope = f"in namespace {namespace}" if namespace else "in all namespaces"
            return ClusterError(
                f"forbidden: context {self.context} may not {verb} {what} ({message or 'no reason given'}); "
                f"ask for RBAC permission to {_RBAC_VERB.get(verb, verb)} {resource} {scope}"
            )
        if status >= 500:
            return ClusterError(f"the cluster of context {self.context} failed to {verb} {what}: {status} {message}")
        return CanaryError(f"cannot {verb} {what}: {message or f'HTTP {status}'}")

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        ref = ObjectRef(kind.kind, namespace if kind.namespaced else "", name)
        status, body = self._request("get", str(ref), "GET", resource_path(kind, namespace, name))
        if status == 404:
            return None
        if status != 200:
            raise self._refused(status, body, "get", str(ref), kind, namespace)
        obj: Obj = body
        return obj

    def list(self, kind: Kind, namespace: str | None, label_selector: str | None = None) -> builtins.list[Obj]:
        scope = f"in namespace {namespace}" if namespace else "in all namespaces"
        what = f"{kind.plural} {scope}" if kind.namespaced else kind.plural
        query = [("labelSelector", label_selector)] if label_selector else []
        status, body = self._request("list", what, "GET", resource_path(kind, namespace), query)
        if status == 404 and kind in OPTIONAL_KINDS:
            return []
        if status == 404:
            raise ClusterError(
                f"the cluster of context {self.context} does not serve {kind.plural} ({kind.api_version}); "
                "are its CRDs installed?"
            )
        if status != 200:
            raise self._refused(status, body, "list", what, kind, namespace)
        # List items carry no apiVersion/kind; give them theirs back so they read like any object.
        return [{"apiVersion": kind.api_version, "kind": kind.kind, **item} for item in body.get("items") or []]

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        ref = ObjectRef.of(obj)
        kind = kind_of(ref)
        query = [("fieldManager", names.MANAGER), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
        path = resource_path(kind, ref.namespace, ref.name)
        status, body = self._request("apply", str(ref), "PATCH", path, query, obj, APPLY_PATCH)
        if status not in (200, 201):
            raise self._refused(status, body, "apply", str(ref), kind, ref.namespace)
        stored: Obj = body
        return stored

    def delete(self, ref: ObjectRef, dry_run: bool) -> bool:
        kind = kind_of(ref)
        options: dict[str, object] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        # kube-apiserver decodes a DELETE's options from the body alone when there is one, so a
        # `dryRun` query parameter beside this body would be ignored and the object really deleted.
        if dry_run:
            options["dryRun"] = ["All"]
        path = resource_path(kind, ref.namespace, ref.name)
        status, body = self._request("delete", str(ref), "DELETE", path, [], options)
        if status == 404:
            return False
        if status not in (200, 202):
            raise self._refused(status, body, "delete", str(ref), kind, ref.namespace)
        return True
