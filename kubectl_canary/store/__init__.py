"""Where objects are read from and written to: one small interface, three implementations.

`Store` is what every command talks to: `ClusterStore` (a kube-apiserver, through the kubernetes
client, imported only when a cluster is used), `DirectoryStore` (a directory of YAML manifests, the
GitOps path) and `MemoryStore` (a dict, the swappable fake for tests). This module also holds the two
steps every command shares: reading a service's `Snapshot`, and executing a `Plan` in order, which
turns a failure after some writes into a `PartialWrite` naming what was already done; and, for
`status`, reading the CanaryPolicies that govern a namespace.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from kubectl_canary.core.errors import CanaryError, ClusterError, Forbidden, Modified, PartialWrite
from kubectl_canary.core.kinds import (
    CANARY_POLICY,
    DEPLOYMENT,
    HORIZONTAL_POD_AUTOSCALER,
    NAMESPACE,
    ROUTETABLE,
    SERVICE,
    UPSTREAM,
    Kind,
    Obj,
    ObjectRef,
    kind_named,
    manifest,
)
from kubectl_canary.core.merge import merge_applied
from kubectl_canary.core.plan import Plan
from kubectl_canary.core.policy import Policy, governing, read_policies
from kubectl_canary.core.snapshot import Snapshot, snapshot_of, upstream_of

DryRun = Literal["none", "client", "server"]


class Store(Protocol):
    """Reads and writes Kubernetes objects (dicts). Errors are the domain errors of `core.errors`.

    `warnings` collects the warnings the backend returned (an API server's `Warning` headers), for the
    CLI to print on stderr as kubectl does; the CLI empties the list as it prints.
    """

    warnings: builtins.list[str]
    default_namespace: str
    # True where controllers run and write status (a cluster): `status` then reads the data path.
    live: bool

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        ...

    def list(self, kind: Kind, namespace: str | None, label_selector: str | None = None) -> builtins.list[Obj]:
        """The objects of `kind` in `namespace` (every namespace for None) matching `label_selector`."""
        ...

    def apply(self, obj: Obj, dry_run: bool) -> Obj:
        """Write `obj` (server-side apply semantics) and return it as stored, or as it would be when dry_run."""
        ...

    def delete(self, ref: ObjectRef, dry_run: bool) -> bool:
        """Delete the object; False when it did not exist."""
        ...

    def describe(self) -> str:
        """Where the objects live, for messages: `context kind-dev`, `directory ./gitops`."""
        ...

    def wait_for_change(self, namespace: str, service: str, timeout: float) -> bool:
        """Block until the service's objects change (at most `timeout` s); False at once if it cannot tell."""
        ...

    def proxy_get(self, pod: ObjectRef, port: int, path: str) -> str:
        """GET `path` from `port` of Pod `pod` through the API server's `pods/proxy` (the gateway-proxy's
        read-only Envoy admin); ClusterError when it cannot (CanaryError for a store without pods)."""
        ...


def kind_of(ref: ObjectRef) -> Kind:
    """The `Kind` of `ref`, or a CanaryError naming a kind the tool does not handle."""
    found = kind_named(ref.kind)
    if found is None:
        raise CanaryError(f"{ref}: kind {ref.kind!r} is not one kubectl-canary handles")
    return found


def _upstreams(store: Store, namespace: str, service: str) -> builtins.list[Obj]:
    """The Upstreams that may send to Service `namespace/service`: the namespace's, and only when none
    there does, every namespace's (Gloo's discovery writes them into its own); a user who may not list
    those gets a warning, and the snapshot finds none. A user who may not list the namespace's either
    gets the plugin's own (`N/S`, what `init` writes): RBAC that grants RouteTables and Deployments
    alone still runs a service made by `init`."""
    try:
        own = store.list(UPSTREAM, namespace)
    except Forbidden:
        return []
    if upstream_of(own, service, namespace) is not None:
        return own
    try:
        return store.list(UPSTREAM, None)
    except ClusterError as err:
        store.warnings.append(
            f"cannot look for an Upstream of Service {namespace}/{service} in other namespaces: {err}")
        return own


def _optional(store: Store, kind: Kind, namespace: str, why: str) -> builtins.list[Obj]:
    try:
        return store.list(kind, namespace)
    except ClusterError as err:
        store.warnings.append(f"cannot list {kind.plural} in namespace {namespace} ({why}): {err}")
        return []


def read_snapshot(
    store: Store, namespace: str, service: str, routetable: str | None = None, autoscalers: bool = False
) -> Snapshot:
    """Read what a command needs to know about `service` from `store` (`routetable`: the one to manage,
    when several RouteTables route to the service; `autoscalers`: for the commands that write or delete a
    Deployment, whose autoscaler gets a twin or goes with it; a user who may not list them is warned)."""
    found = store.list(ROUTETABLE, namespace) + store.list(DEPLOYMENT, namespace)
    try:
        service_obj = store.get(SERVICE, namespace, service)
    except Forbidden:  # its selector is then the plugin's own, `app: S` (see `_upstreams`)
        service_obj = None
    found += [service_obj] if service_obj is not None else []
    found += _upstreams(store, namespace, service)
    if autoscalers:
        found += _optional(store, HORIZONTAL_POD_AUTOSCALER, namespace, "an autoscaler of the primary gets a twin "
                           "for the canary, and goes with the Deployment it scales")
    return snapshot_of(service, namespace, found, routetable)


def read_governing(store: Store, namespace: str) -> tuple[Policy, ...]:
    """The CanaryPolicies that govern `namespace` (ClusterError when they cannot be listed).

    A cluster without the CanaryPolicy CRD has none. A policy that cannot be read is left out, with a
    warning for the CLI to print; a Namespace that cannot be read (or is not in the directory) counts as
    labelled with its name only.
    """
    policies, unreadable = read_policies(store.list(CANARY_POLICY, None))
    store.warnings.extend(f"{bad.error} (policy left out)" for bad in unreadable)
    namespace_obj = None
    if any(p.namespace_selector is not None for p in policies):
        with contextlib.suppress(ClusterError):
            namespace_obj = store.get(NAMESPACE, "", namespace)
    return governing(policies, namespace, namespace_obj)


@dataclass(frozen=True)
class Outcome:
    """What happened to one object: `created`, `configured`, `unchanged` or `deleted`, and the result."""

    ref: ObjectRef
    action: str
    obj: Obj | None = None


def _action(before: Obj | None, after: Obj) -> str:
    if before is None:
        return "created"
    return "unchanged" if manifest(before) == manifest(after) else "configured"


def _current(store: Store, ref: ObjectRef, known: Mapping[ObjectRef, Obj | None]) -> Obj | None:
    # The snapshot the plan was made from has read these objects already; ask the store only for others.
    return known[ref] if ref in known else store.get(kind_of(ref), ref.namespace, ref.name)


def _step(store: Store, obj: Obj, dry_run: DryRun, known: Mapping[ObjectRef, Obj | None]) -> Outcome:
    ref = ObjectRef.of(obj)
    before = _current(store, ref, known)
    # A client dry run asks the store nothing but reads: the result is predicted by the same merge rule.
    after = merge_applied(before, obj) if dry_run == "client" else store.apply(obj, dry_run=dry_run == "server")
    return Outcome(ref, _action(before, after), after)


def _judged_alone(err: CanaryError, verb: str, target: Obj | ObjectRef, done: builtins.list[Outcome]) -> CanaryError:
    # dryRun=All stores nothing, so the server judged this step against the cluster as it is, without
    # the steps above it; say so, or a refusal caused by that looks like a real problem with the plan.
    what = target if isinstance(target, ObjectRef) else ObjectRef.of(target)
    earlier = ", ".join(str(o.ref) for o in done)
    return type(err)(
        f"{err}; note: a server dry run stores nothing, so the cluster judged {verb} {what} without the "
        f"{len(done)} earlier step(s) of this command ({earlier}); a real run makes those first"
    )


def execute(
    store: Store,
    plan: Plan,
    dry_run: DryRun = "none",
    on_outcome: Callable[[Outcome], None] | None = None,
    known: Mapping[ObjectRef, Obj | None] | None = None,
    before_deletes: Callable[[], None] | None = None,
) -> builtins.list[Outcome]:
    """Apply the plan's writes, then its deletes, in order; report each step to `on_outcome` as it is done.

    `known` holds objects as already read for the plan (`Snapshot.read_objects`), so they are not read again.
    `before_deletes` runs between the last write and the first delete of a real run (the gateway drain);
    its error is reported like a failed step.

    When a step fails after others were written, `PartialWrite` names what was done and says to re-run
    the command (plans recognise a half-done state and complete it). Nothing is written on a dry run.
    """
    known = known or {}
    done: builtins.list[Outcome] = []
    steps: builtins.list[tuple[str, Obj | ObjectRef]] = [("apply", o) for o in plan.writes]
    steps += [("delete", r) for r in plan.deletes]
    for index, (verb, target) in enumerate(steps):
        try:
            if before_deletes and dry_run == "none" and index == len(plan.writes) and plan.deletes:
                before_deletes()
            if isinstance(target, ObjectRef):
                # A client dry run only reads: the object would be deleted if it exists now.
                if dry_run == "client":
                    gone = _current(store, target, known) is not None
                else:
                    gone = store.delete(target, dry_run=dry_run == "server")
                outcome = Outcome(target, "deleted" if gone else "already gone")
            else:
                outcome = _step(store, target, dry_run, known)
        except Modified:
            raise  # another writer came between the read and this write: the caller reads again and re-plans
        except CanaryError as err:
            if done and dry_run == "server":
                raise _judged_alone(err, verb, target, done) from err
            if not done or dry_run != "none":
                raise
            what = target if isinstance(target, ObjectRef) else ObjectRef.of(target)
            written = ", ".join(f"{o.ref} {o.action}" for o in done)
            raise PartialWrite(
                f"{written}; then {verb} {what} failed: {err}; re-run the same command to complete it"
            ) from err
        done.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return done
