"""The canary is its primary's copy: its Deployment (and the twin of an HPA) built from the primary's.

`canary_deployment` copies the whole pod template, the rollout settings and the Deployment's own labels
and annotations, and changes only what makes it the canary: its name, the `version` label, the role
annotation, the images and environment given, the replicas. It never copies what the server or another
tool owns (`NOT_COPIED`), so that no GitOps tool adopts or prunes the canary (flagger #882).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

from kubectl_canary.core import names
from kubectl_canary.core.errors import InvalidObject, UsageError
from kubectl_canary.core.kinds import DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER, Obj, ObjectRef, annotations_of, labels_of
from kubectl_canary.core.objects import default_args

# Keys of a Deployment's (or HPA's) own labels and annotations that the copy leaves out, and why. A tool
# claims an object by such a key: on the canary it would make Helm treat it as part of the release, make
# Argo CD, Flux or kapp report it as extraneous and prune it mid-rollout, or carry the primary's history.
# The pod template's labels and annotations are copied whole: pods are owned by the canary's ReplicaSet,
# and no tool tracks objects that have an owner, while selectors often use such labels (Helm charts
# select on `app.kubernetes.io/instance`).
NOT_COPIED: Final[tuple[tuple[str, str], ...]] = (
    ("deployment.kubernetes.io/revision", "the Deployment controller's count of the primary's rollouts"),
    ("kubectl.kubernetes.io/last-applied-configuration", "`kubectl apply`'s record of the primary's manifest"),
    ("autoscaling.alpha.kubernetes.io/c*", "conditions and current-metrics: HPA status, as autoscaling/v1 shows it"),
    (names.MANAGED_BY, "who manages the object (`Helm`, ...): the copy's is kubectl-canary"),
    ("meta.helm.sh/*", "Helm's release ownership: `helm upgrade` would claim or refuse the canary"),
    ("helm.sh/*", "Helm's chart label, hooks and resource policy: the canary is no part of the release"),
    ("*.toolkit.fluxcd.io/*", "Flux's ownership labels and reconcile settings: Flux prunes what it owns"),
    ("fluxcd.io/*", "Flux v1's sync and garbage-collection marks"),
    ("argocd.argoproj.io/*", "Argo CD's tracking id and sync options"),
    ("app.kubernetes.io/instance", "Argo CD's tracking label (label tracking): an untracked object with it is pruned"),
    ("kapp.k14s.io/*", "kapp's app label: kapp deletes labelled objects missing from its configuration"),
)

# Annotations of a pod that name one of its containers, which follow a renamed container.
_CONTAINER_ANNOTATIONS: Final = ("kubectl.kubernetes.io/default-container",
                                 "kubectl.kubernetes.io/default-logs-container")
# Container names are DNS-1123 labels; env names as the API server checks them (and `kubectl set env`).
_CONTAINER_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME: Final = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class Changes:
    """What the canary changes in its copy: images (`None` for the main container), the main container's
    environment (set or replaced, in order), its replicas (else the primary's), and which container is the
    main one when its name does not say so (`None`: found by `main_container`)."""

    images: tuple[tuple[str | None, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    replicas: int | None = None
    container: str | None = None

    @staticmethod
    def parse(images: Iterable[str] = (), env: Iterable[str] = (), replicas: int | None = None,
              container: str | None = None) -> Changes:
        """The changes that repeated `--image` and `--env` flags, `--replicas` and `--container` ask for."""
        if replicas is not None and replicas < 0:
            raise UsageError(f"invalid --replicas {replicas}: use 0 or more")
        if container is not None and not _CONTAINER_NAME.match(container):
            raise UsageError(f"invalid --container {container!r}: a container name is a lowercase DNS label")
        return Changes(tuple(parse_image(i) for i in images), tuple(parse_env(e) for e in env), replicas, container)


def parse_image(text: str) -> tuple[str | None, str]:
    """`--image IMAGE` -> (None, IMAGE); `--image CONTAINER=IMAGE` -> (CONTAINER, IMAGE), as `kubectl set image`.

    An image reference may hold ':', '@' and '/', never '=' or whitespace.
    """
    container, sep, image = text.rpartition("=")
    if not image or any(c.isspace() for c in image) or (sep and not _CONTAINER_NAME.match(container)):
        raise UsageError(f"invalid --image {text!r}: expected IMAGE for the main container or CONTAINER=IMAGE, "
                         "e.g. registry.example/shop:2.0 or shop=registry.example/shop:2.0")
    return (container or None), image


def parse_env(text: str) -> tuple[str, str]:
    """`--env NAME=VALUE` -> (NAME, VALUE), as `kubectl set env` takes it (the value may be empty)."""
    name, sep, value = text.partition("=")
    if not sep or not _ENV_NAME.match(name):
        raise UsageError(f"invalid --env {text!r}: expected NAME=VALUE with NAME of letters, digits, '_', '-' "
                         "and '.', not starting with a digit, e.g. LOG_LEVEL=debug")
    return name, value


def _pod(deployment: Obj) -> Obj:
    return dict(((deployment.get("spec") or {}).get("template") or {}).get("spec") or {})


def _containers(pod: Obj, key: str = "containers") -> list[Obj]:
    return [c for c in pod.get(key) or [] if isinstance(c, dict)]


def _listing(deployment: Obj) -> str:
    pod = _pod(deployment)
    text = "containers " + ", ".join(str(c.get("name")) for c in _containers(pod))
    init = _containers(pod, "initContainers")
    return text + (f" (init containers {', '.join(str(c.get('name')) for c in init)})" if init else "")


def _find_main(deployment: Obj, service: str) -> str | None:
    found = [str(c.get("name")) for c in _containers(_pod(deployment))]
    for wanted in (ObjectRef.of(deployment).name, service):
        if wanted in found:
            return wanted
    return found[0] if len(found) == 1 else None


def main_container(deployment: Obj, service: str) -> str:
    """The service's main container: the one named after the Deployment, else after the service, else the
    only one. With several and none so named, a UsageError lists them."""
    found = _find_main(deployment, service)
    if found is None:
        raise UsageError(
            f"cannot tell the main container of {ObjectRef.of(deployment)}: it has {_listing(deployment)}, "
            f"none named after the Deployment or the service {service}; name the container, as in "
            "--image CONTAINER=IMAGE (or --container NAME for --env)"
        )
    return found


def _kept(found: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in found.items() if not any(fnmatchcase(k, pattern) for pattern, _ in NOT_COPIED)}


def _metadata(source: Obj, name: str, namespace: str, annotations: dict[str, str] | None = None) -> Obj:
    """New metadata: the name, the namespace, the source's labels and annotations without `NOT_COPIED`.
    Everything else (uid, resourceVersion, generation, managedFields, ownerReferences, finalizers, ...)
    belongs to the source object or to the server."""
    labels = {**_kept(labels_of(source)), names.MANAGED_BY: names.MANAGER}
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels}
    found = {**_kept(annotations_of(source)), **(annotations or {})}
    if found:
        meta["annotations"] = found
    return meta


def _selector(primary: Obj, version: str) -> Obj:
    """The primary's selector with `version: V`: the canary selects its own pods only, even when the primary
    (an adopted one) selects every version. Expressions on `version` would exclude them, so they go."""
    selector = copy.deepcopy((primary.get("spec") or {}).get("selector"))
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        raise InvalidObject(f"{ObjectRef.of(primary)} has no spec.selector, so its pods cannot be told apart")
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), names.VERSION_KEY: version}
    expressions = [e for e in selector.get("matchExpressions") or [] if e.get("key") != names.VERSION_KEY]
    selector.pop("matchExpressions", None)
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _set_images(primary: Obj, service: str, pod: Obj, changes: Changes, main: str | None,
                aliases: dict[str, str]) -> None:
    """Each image given to its container (or init container); a bare one to the main container."""
    by_name = {str(c.get("name")): c for key in ("initContainers", "containers") for c in _containers(pod, key)}
    given: dict[str, str] = {}
    for name, image in changes.images:
        target = name or main or main_container(primary, service)
        if given.setdefault(target, image) != image:
            raise UsageError(f"--image gives container {target} two images: {given[target]} and {image}")
        if aliases.get(target, target) not in by_name:
            raise UsageError(f"--image {target}={image}: {ObjectRef.of(primary)} has no container {target}; "
                             f"it has {_listing(primary)}")
        by_name[aliases.get(target, target)]["image"] = image


def _set_env(container: Obj, env: tuple[tuple[str, str], ...]) -> None:
    """Set or replace each variable by name, in place; new ones are appended in the order given."""
    entries: list[Any] = container.setdefault("env", [])
    for name, value in env:
        places = [i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == name]
        for i in places:
            entries[i] = {"name": name, "value": value}
        if not places:
            entries.append({"name": name, "value": value})


def _http_echo(container: Obj, service: str, version: str, old_image: str) -> None:
    """The seed's special case: http-echo's args name the version (`-text=version:S-V`), so they are
    regenerated for the canary, and dropped when another image replaces http-echo (SPEC 1)."""
    ports = container.get("ports") or [{}]
    port = int(ports[0].get("containerPort") or names.CONTAINER_PORT)
    args = default_args(service, version, str(container.get("image", "")), port)
    if args:
        # The args go after the image, where the seed's chart and objects.deployment put them.
        fields = [(k, v) for k, v in container.items() if k != "args"]
        at = next((i + 1 for i, (k, _) in enumerate(fields) if k == "image"), len(fields))
        container.clear()
        container.update([*fields[:at], ("args", list(args)), *fields[at:]])
    elif default_args(service, version, old_image, port):
        container.pop("args", None)


def _rename_refs(node: Any, old: str, new: str) -> None:
    """Every `containerName: old` (resourceFieldRef in env and downward API volumes) becomes `new`."""
    if isinstance(node, dict) and node.get("containerName") == old:
        node["containerName"] = new
    for value in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        _rename_refs(value, old, new)


def _follow_name(template: Obj, container: Obj, new: str) -> None:
    """The container named after the primary Deployment (the seed chart's `S-V`) is named after the canary's,
    and so is every reference to it in the pod: the main container keeps the name of its Deployment, which
    is how the next rollout finds it (and the seed's canary is `S-V`). No other container is renamed."""
    old = str(container["name"])
    container["name"] = new
    _rename_refs(template.get("spec"), old, new)
    meta = template.get("metadata") or {}
    if isinstance(meta.get("annotations"), dict):  # `container.apparmor.security.beta.kubernetes.io/NAME`, ...
        meta["annotations"] = {
            (k.removesuffix(old) + new if k.startswith("container.") and k.endswith("/" + old) else k):
            (new if k in _CONTAINER_ANNOTATIONS and v == old else v) for k, v in meta["annotations"].items()}


def _template(primary: Obj, service: str, version: str, changes: Changes, canary: str) -> Obj:
    template = copy.deepcopy((primary.get("spec") or {}).get("template") or {})
    meta = template.setdefault("metadata", {})
    meta.pop("creationTimestamp", None)  # live objects read back `creationTimestamp: null` here
    # The Deployment controller adds pod-template-hash to each ReplicaSet's copy, never to a template; one
    # found in a manifest would name a ReplicaSet of the primary.
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    meta["labels"] = {**labels, names.VERSION_KEY: version}
    pod = template.setdefault("spec", {})
    by_name = {str(c.get("name")): c for c in _containers(pod)}
    if changes.container is not None and changes.container not in by_name:
        raise UsageError(f"--container {changes.container}: {ObjectRef.of(primary)} has {_listing(primary)}")
    main = changes.container or _find_main(primary, service)
    renames = main is not None and main == ObjectRef.of(primary).name != service and canary not in by_name
    aliases = {canary: str(main)} if renames else {}
    old_image = str(by_name[main].get("image", "")) if main is not None else ""
    _set_images(primary, service, pod, changes, main, aliases)
    if changes.env:
        main = main or main_container(primary, service)
        _set_env(by_name[main], changes.env)
    if main is not None:
        _http_echo(by_name[main], service, version, old_image)
        if renames:
            _follow_name(template, by_name[main], canary)
    return template


def canary_deployment(primary: Obj, service: str, namespace: str, version: str, changes: Changes, role: str) -> Obj:
    """The canary Deployment `S-V`: a copy of the `primary` Deployment (live or a manifest).

    Copied: the whole pod template (containers and init containers with their env, envFrom, probes,
    resources, mounts; volumes, service account, security context, affinity, tolerations, topology
    spread, pod labels and annotations), the rollout settings (strategy, minReadySeconds,
    progressDeadlineSeconds, revisionHistoryLimit) and the Deployment's labels and annotations but
    `NOT_COPIED`. Changed: the name; `version: V` in the selector and the pod labels; the role
    annotation; the managed-by label; the images and env of `changes`; the replicas (`changes.replicas`,
    else the primary's, else 1). Containers keep their names, but for the one named after the primary
    Deployment (see `_follow_name`). `spec.paused` is the primary's rollout state, not its configuration:
    a paused copy would never start, so it is left out; so are status and server fields.
    """
    name = names.deployment_name(service, version)
    spec = copy.deepcopy(primary.get("spec") or {})
    spec.pop("paused", None)
    replicas = changes.replicas if changes.replicas is not None else spec.get("replicas")
    spec["replicas"] = 1 if replicas is None else int(replicas)
    spec["selector"] = _selector(primary, version)
    spec["template"] = _template(primary, service, version, changes, name)
    metadata = _metadata(primary, name, namespace, {names.ROLE: role})
    return {"apiVersion": DEPLOYMENT.api_version, "kind": DEPLOYMENT.kind, "metadata": metadata, "spec": spec}


def _targets(hpa: Obj, deployment_name: str) -> bool:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return ref.get("kind") == DEPLOYMENT.kind and ref.get("name") == deployment_name


def hpa_targeting(hpas: Iterable[Obj], deployment_name: str) -> Obj | None:
    """The HorizontalPodAutoscaler whose scaleTargetRef is the Deployment `deployment_name` (the first by
    name when several are: the HPA controller then refuses to scale with any of them)."""
    found = sorted((h for h in hpas if _targets(h, deployment_name)), key=lambda h: ObjectRef.of(h).name)
    return found[0] if found else None


def canary_hpa(hpa: Obj, canary_name: str) -> Obj:
    """The twin of `hpa` for the canary Deployment `canary_name`: named after it, scaling it, with the same
    bounds, metrics and behavior; labels and annotations copied but `NOT_COPIED`; no status."""
    spec = copy.deepcopy(hpa.get("spec") or {})
    spec["scaleTargetRef"] = {**(spec.get("scaleTargetRef") or {}), "name": canary_name}
    # The source's apiVersion: an autoscaling/v1 manifest's spec has v1's shape.
    return {"apiVersion": hpa.get("apiVersion", HORIZONTAL_POD_AUTOSCALER.api_version),
            "kind": HORIZONTAL_POD_AUTOSCALER.kind,
            "metadata": _metadata(hpa, canary_name, ObjectRef.of(hpa).namespace), "spec": spec}
