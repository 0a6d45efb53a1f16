"""`ClusterStore`: objects in a Kubernetes cluster, through the official kubernetes client.

The kubernetes client is imported inside `ClusterStore` only (it costs about half a second), so
`--help` and `--files` runs never load it. A `--dry-run=client` run against a cluster does: it reads
the current objects to predict the result (deliberately; it still writes nothing). Which cluster, and
as whom, follows kubectl's connection flags (`store.kubeconfig`); impersonation travels as
`Impersonate-*` headers and `--request-timeout` bounds every request (and is sent as `timeout`, as
kubectl does). Requests are built from `Kind` (group, version, plural; `store.paths`) and sent with
`ApiClient.call_api`, which returns the raw response, so the `Warning` headers can be read (the
generated API methods drop them). Writes are server-side apply (field manager `kubectl-canary`)
without force unless `--force-conflicts`: a field another manager owns is a conflict, reported as
kubectl reports it (the manager, each field, the fix; `store.answers` reads them). `--dry-run=server`
adds `dryRun=All`, and deletes propagate in the background. Listing a kind whose CRD is optional
(CanaryPolicy) where the cluster does not serve it finds nothing. Each read keeps its resourceVersion, from which
`wait_for_change` (`store.watch`) watches for `status --watch`.
"""

from __future__ import annotations

import builtins
import json
import re
from typing import Any
from urllib.parse import quote

from kubectl_canary.core import names
from kubectl_canary.core.errors import CanaryError, ClusterError, Forbidden, ManagerConflict, Modified
from kubectl_canary.core.kinds import CANARY_POLICY, VIRTUAL_SERVICE, Kind, Obj, ObjectRef
from kubectl_canary.store import kind_of, kubeconfig
from kubectl_canary.store.answers import conflict_lines, conflict_managers, parse_warnings, people, unserved
from kubectl_canary.store.kubeconfig import Connection
from kubectl_canary.store.paths import resource_path

APPLY_PATCH = "application/apply-patch+yaml"
# What RBAC calls each verb of the store, for the hint in a "forbidden" message.
_RBAC_VERB = {"get": "get", "list": "list", "apply": "patch", "delete": "delete"}
# RBAC refusals read `... is forbidden: User "x" cannot patch resource ...`; admission denials differ.
_RBAC_DENIAL = re.compile(r'forbidden: (User|Group|ServiceAccount)? ?"[^"]*" cannot ')
# Kinds whose CRD a cluster may lack: listing them there finds none instead of failing.
OPTIONAL_KINDS = (CANARY_POLICY, VIRTUAL_SERVICE)
# The subresource `proxy_get` uses, as RBAC names it (`pods/proxy`), for the hint in a refusal.
POD_PROXY = Kind("v1", "Pod", "pods/proxy")


class ClusterStore:
    """A `Store` over the cluster that kubectl's connection flags select (or the in-cluster service account).

    `force_conflicts` makes every apply take the fields other managers own, as `kubectl apply
    --server-side --force-conflicts`; without it such a field is an error naming the manager.
    """

    live = True

    def __init__(self, connection: Connection | None = None, force_conflicts: bool = False) -> None:
        from kubernetes import client  # lazily: see the module docstring
        from urllib3.util.retry import Retry

        connection = connection or Connection()
        resolved = kubeconfig.load(connection)
        self.warnings: builtins.list[str] = []
        self.context = resolved.context
        self.default_namespace = resolved.namespace
        self.force_conflicts = force_conflicts
        self.impersonation = resolved.impersonation
        # The resourceVersion of each last read, (plural, namespace, name or None for a list): where a watch starts.
        self.versions: dict[tuple[str, str | None, str | None], str] = {}
        limit = connection.request_timeout
        # kubectl: no flag leaves requests unbounded; we keep a generous bound. 0 means none, as in kubectl.
        self.timeout: tuple[float, float] | None = (10.0, 30.0) if limit is None else (limit, limit) if limit else None
        self.server_timeout = [("timeout", f"{limit:g}s")] if limit else []
        configuration = resolved.configuration
        # Retry refused connections, never a request the server may have received and is working on:
        # a retried timeout would wait --request-timeout more than once.
        configuration.retries = Retry(total=2, read=0, redirect=0)
        self.api = client.ApiClient(configuration)
        self.api.user_agent = f"{names.MANAGER}/0.1.0"

    def describe(self) -> str:
        return f"context {self.context}"

    def send(
        self, verb: str, what: str, method: str, path: str, query: list[tuple[str, str]] | None = None,
        body: Any = None, content_type: str = "application/json", timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one request and return the client's response, unread (a watch streams it)."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method, url, sent, body, post = self.api.param_serialize(
                method, path, query_params=[*(query or []), *self.server_timeout], header_params=headers, body=body,
                auth_settings=["BearerToken"],
            )
            # A header dict that can repeat a name: each --as-group is an Impersonate-Group header of its own.
            outgoing = urllib3.HTTPHeaderDict(sent)
            for name, value in self.impersonation:
                outgoing.add(name, value)
            return self.api.call_api(method, url, outgoing, body, post, _request_timeout=timeout or self.timeout)
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as err:
            raise self._unreachable(err, verb, what) from err

    def _unreachable(self, err: Exception, verb: str, what: str) -> ClusterError:
        import urllib3

        reason = getattr(err, "reason", None) or err
        # urllib3 counts a refused connection (NewConnectionError) as a connect timeout; it is not one.
        timed_out = isinstance(reason, urllib3.exceptions.TimeoutError | TimeoutError)
        if timed_out and not isinstance(reason, urllib3.exceptions.NewConnectionError) and self.timeout:
            return ClusterError(
                f"the cluster of context {self.context} did not answer within {self.timeout[1]:g}s to {verb} "
                f"{what}; check that the API server is up, or allow longer with --request-timeout"
            )
        return ClusterError(
            f"cannot reach the cluster of context {self.context} to {verb} {what}: {reason}; "
            "check that the cluster is running or choose another --context/--kubeconfig"
        )

    def _request(
        self, verb: str, what: str, method: str, path: str, query: list[tuple[str, str]] | None = None,
        body: Any = None, content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Send one request; return the status and the decoded body. Unreachable clusters raise ClusterError."""
        import urllib3

        response = self.send(verb, what, method, path, query, body, content_type)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise self._unreachable(err, verb, what) from err
        self.warnings.extend(parse_warnings(response.headers.getlist("Warning")))
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data.decode("utf-8", "replace")}
        return response.status, decoded

    def _as(self) -> str:
        """` as USER`, when impersonating: whose rights a refusal is about."""
        user = next((value for name, value in self.impersonation if name == "Impersonate-User"), None)
        return f" as {user}" if user else ""

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
            return Forbidden(
                f"forbidden: context {self.context}{self._as()} may not {verb} {what} "
                f"({message or 'no reason given'}); "
                f"ask for RBAC permission to {_RBAC_VERB.get(verb, verb)} {resource} {scope}"
            )
        conflicts = conflict_lines(body) if status == 409 else []
        if conflicts:
            fields = "\n".join(f"  {line}" for line in conflicts)
            return ManagerConflict(
                f"cannot {verb} {what}: {len(conflicts)} field(s) already have another field manager:\n{fields}\n"
                "re-run with --force-conflicts to take them over (the other manager may change them back on its "
                "next sync), or make this change through that manager",
                conflict_managers(body),
            )
        if status == 409:
            return Modified(f"cannot {verb} {what}: it changed since it was read ({message or 'conflict'})")
        if status >= 500:
            return ClusterError(f"the cluster of context {self.context} failed to {verb} {what}: {status} {message}")
        return CanaryError(f"cannot {verb} {what}: {message or f'HTTP {status}'}")

    def _not_served(self, kind: Kind) -> ClusterError:
        return ClusterError(
            f"the cluster of context {self.context} does not serve {kind.plural} ({kind.api_version}); "
            "are its CRDs installed?"
        )

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        ref = ObjectRef(kind.kind, namespace if kind.namespaced else "", name)
        status, body = self._request("get", str(ref), "GET", resource_path(kind, namespace, name))
        if status == 404 and unserved(body) and kind not in OPTIONAL_KINDS:
            # Not "no such object": no such kind. Reading it as absent would let `init` write the objects
            # of the kinds that are served and then fail on the first that is not.
            raise self._not_served(kind)
        if status == 404:
            return None
        if status != 200:
            raise self._refused(status, body, "get", str(ref), kind, namespace)
        self.versions[(kind.plural, namespace, name)] = str((body.get("metadata") or {}).get("resourceVersion") or "")
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
            raise self._not_served(kind)
        if status != 200:
            raise self._refused(status, body, "list", what, kind, namespace)
        self.versions[(kind.plural, namespace, None)] = str((body.get("metadata") or {}).get("resourceVersion") or "")
        # List items carry no apiVersion/kind; give them theirs back so they read like any object.
        return [{"apiVersion": kind.api_version, "kind": kind.kind, **item} for item in body.get("items") or []]

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        """Server-side apply. Fields that only people's tools own (`kubectl apply`, `edit`, ...) are taken
        over, with a warning naming them: a RouteTable's `routes` list is atomic, so a hand edit owns all
        of it, and the plugin rewrites only its own routes in it. A controller's fields stop the write."""
        try:
            return self._apply(obj, dry_run, self.force_conflicts)
        except ManagerConflict as err:
            if not err.managers or not all(people(m) for m in err.managers):
                raise
            taken = str(err).split("\n")[1:-1]
            self.warnings.append(f"{ObjectRef.of(obj)}: took over from {', '.join(err.managers)}: "
                                 + "; ".join(line.strip() for line in taken))
            return self._apply(obj, dry_run, force=True)

    def _apply(self, obj: Obj, dry_run: bool, force: bool) -> Obj:
        ref = ObjectRef.of(obj)
        kind = kind_of(ref)
        query = [("fieldManager", names.MANAGER)] + ([("force", "true")] if force else [])
        query += [("dryRun", "All")] if dry_run else []
        path = resource_path(kind, ref.namespace, ref.name)
        status, body = self._request("apply", str(ref), "PATCH", path, query, obj, APPLY_PATCH)
        if status == 404 and unserved(body):
            raise self._not_served(kind)
        if status not in (200, 201):
            raise self._refused(status, body, "apply", str(ref), kind, ref.namespace)
        stored: Obj = body
        return stored

    def wait_for_change(self, namespace: str, service: str, timeout: float) -> bool:
        """Block until the service's RouteTable or a Deployment of `namespace` changes (watch API), at most
        `timeout` seconds; False when it could not watch (see `store.watch`)."""
        from kubectl_canary.store.watch import wait_for_change

        return wait_for_change(self, namespace, service, timeout)

    def proxy_get(self, pod: ObjectRef, port: int, path: str) -> str:
        """GET through `pods/proxy` (RBAC: `get` on `pods/proxy` in the pod's namespace)."""
        import urllib3

        what = f"{path} of pod {pod.namespace}/{pod.name} port {port}"
        where = f"/api/v1/namespaces/{quote(pod.namespace, safe='')}/pods/{quote(pod.name, safe='')}:{port}/proxy"
        route, _, query = path.partition("?")
        params = [(k, v) for k, _, v in (q.partition("=") for q in query.split("&") if q)]
        response = self.send("get", what, "GET", where + route, params)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise self._unreachable(err, "get", what) from err
        text = data.decode("utf-8", "replace") if data else ""
        if response.status != 200:
            try:
                body = json.loads(text)
            except ValueError:
                body = {"message": text.strip()[:200]}
            error = self._refused(response.status, body, "get", what, POD_PROXY, pod.namespace)
            raise error if isinstance(error, ClusterError) else ClusterError(str(error))
        return text

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
