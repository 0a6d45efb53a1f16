"""kubectl's connection flags, and the client configuration they select, through the kubernetes loader.

`Connection` holds what kubectl's ConfigFlags hold (`--kubeconfig`, `--context`, `--cluster`, `--user`,
`--server`, TLS and credential overrides, impersonation, `--request-timeout`). `load` resolves it as
kubectl does: `--kubeconfig`, else the `KUBECONFIG` files merged by the kubernetes client's
`KubeConfigMerger`, else `~/.kube/config`; else the in-cluster service account; or, with `--server`,
no kubeconfig at all. The context's cluster and user are copied, the flags are laid over them, and the
kubernetes client's `KubeConfigLoader` turns the result into a `Configuration` (auth providers, exec
plugins, relative certificate paths: all the library's). Two rules differ from the library and follow
kubectl: the first file to set `current-context` wins (the merger lets the last win), and an empty
kubeconfig file counts as empty rather than invalid. Impersonation is returned as headers, since the
library's `Configuration` has no place for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from kubectl_canary.core.errors import ClusterError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class Connection:
    """kubectl's connection flags; None (or empty) means "not given"."""

    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    server: str | None = None
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    token: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    as_uid: str | None = None
    request_timeout: float | None = None  # seconds; 0 means no timeout (as kubectl)
    cache_dir: str | None = None  # accepted as kubectl does; nothing is cached (no discovery)

    def given(self) -> list[str]:
        """The flags set, by their kubectl names (`--as`, `--server`, ...), for messages."""
        flag = {"as_user": "as", "as_groups": "as-group", "as_uid": "as-uid"}
        return [f"--{flag.get(f.name, f.name.replace('_', '-'))}" for f in fields(self) if getattr(self, f.name)]


@dataclass(frozen=True)
class Client:
    """What `load` resolved: the kubernetes `Configuration`, the context's name and namespace, and the
    impersonation headers (each a (name, value) pair; `Impersonate-Group` may repeat)."""

    configuration: Any
    context: str
    namespace: str
    impersonation: tuple[tuple[str, str], ...]


def kubeconfig_paths(kubeconfig: str | None) -> list[str]:
    """The kubeconfig files in effect: `--kubeconfig` (which must exist), else the existing `KUBECONFIG` ones."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ClusterError(f"kubeconfig {kubeconfig} not found; pass an existing file to --kubeconfig")
        return [str(path)]
    listed = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    found = (str(Path(p).expanduser()) for p in listed.split(os.pathsep) if p)
    return [p for p in found if Path(p).is_file()]


def _merged(paths: list[str]) -> tuple[Any, str | None]:
    """The library's merge of `paths` (None when every file is empty) and kubectl's current context."""
    import yaml
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    current: str | None = None
    nonempty = []
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ClusterError(f"cannot read kubeconfig {path}: {err}; fix the file or leave it out") from err
        if data:
            if not isinstance(data, dict):
                raise ClusterError(f"kubeconfig {path} is not a kubeconfig (a YAML mapping); fix or leave it out")
            nonempty.append(path)
            current = current or data.get("current-context") or None
    if not nonempty:
        return None, None
    try:
        return KubeConfigMerger(os.pathsep.join(nonempty)).config, current  # type: ignore[no-untyped-call]
    except (ConfigException, TypeError, KeyError, AttributeError) as err:
        raise ClusterError(f"cannot read kubeconfig {os.pathsep.join(nonempty)}: {err}") from err


def _entry(merged: Any, section: str, name: str | None) -> Any:
    """The ConfigNode of `name` in `section` (clusters, users, contexts), or None."""
    if merged is None or not name:
        return None
    for node in merged.value.get(section) or []:
        if node.value.get("name") == name:
            return node
    return None


# (Connection field, kubeconfig key, is a file path): what each connection flag sets in the cluster or user.
_CLUSTER_FLAGS: Final = (("server", "server", False), ("certificate_authority", "certificate-authority", True),
                         ("insecure_skip_tls_verify", "insecure-skip-tls-verify", False),
                         ("tls_server_name", "tls-server-name", False))
_USER_FLAGS: Final = (("token", "token", False), ("client_certificate", "client-certificate", True),
                      ("client_key", "client-key", True))


def _overrides(conn: Connection, flags: tuple[tuple[str, str, bool], ...]) -> dict[str, Any]:
    """The kubeconfig keys the given flags set (paths made absolute, as kubectl resolves them)."""
    found: dict[str, Any] = {}
    for field_name, key, is_path in flags:
        value = getattr(conn, field_name)
        if value:
            found[key] = os.path.abspath(value) if is_path else value
    return found


def _overlaid(node: Any, section: str, overrides: dict[str, Any]) -> Any:
    """A copy of a cluster or user node with the flags laid over it; a flag's file replaces inline data."""
    from kubernetes.config.kube_config import ConfigNode

    value = dict(node.value.get(section) or {}) if node is not None else {}
    for key, setting in overrides.items():
        value.pop(f"{key}-data", None)
        value[key] = setting
    if "token" in overrides:
        # The flag's token is the credential: the library would otherwise try these before it.
        for other in ("auth-provider", "exec", "tokenFile"):
            value.pop(other, None)
    if "certificate-authority" in overrides:
        value.pop("insecure-skip-tls-verify", None)
    elif overrides.get("insecure-skip-tls-verify"):
        # As kubectl: skipping verification without naming a CA drops the kubeconfig's CA.
        value.pop("certificate-authority", None)
        value.pop("certificate-authority-data", None)
    path = node.path if node is not None else None
    return ConfigNode(section, {"name": section, section: value}, path)  # type: ignore[no-untyped-call]


def _impersonation(conn: Connection, user: Any) -> tuple[tuple[str, str], ...]:
    """`Impersonate-*` headers: the flags, else the kubeconfig user's `as`, `as-groups` and `as-uid`."""
    entry = (user.value.get("user") or {}) if user is not None else {}
    name = conn.as_user or entry.get("as")
    groups = conn.as_groups or tuple(entry.get("as-groups") or ())
    uid = conn.as_uid or entry.get("as-uid")
    if (groups or uid) and not name:
        raise ClusterError("--as-group and --as-uid impersonate a user: name the user with --as")
    headers = [("Impersonate-User", str(name))] if name else []
    headers += [("Impersonate-Group", str(g)) for g in groups]
    headers += [("Impersonate-Uid", str(uid))] if uid else []
    return tuple(headers)


def _in_cluster(conn: Connection) -> Client:
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException as err:
        raise ClusterError(f"cannot use the in-cluster service account: {err}; pass --kubeconfig") from err
    if conn.token:
        configuration.api_key = {"BearerToken": f"Bearer {conn.token}"}
        configuration.refresh_api_key_hook = None
    ns_file = SERVICE_ACCOUNT / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    return Client(configuration, "in-cluster", namespace, _impersonation(conn, None))


def load(conn: Connection) -> Client:
    """Resolve `conn` as kubectl would into a kubernetes client `Configuration` (ClusterError when it cannot)."""
    paths = kubeconfig_paths(conn.kubeconfig)
    merged, current = _merged(paths)
    if merged is None and not conn.server:
        if not paths and os.environ.get("KUBERNETES_SERVICE_HOST") and not (conn.context or conn.cluster):
            return _in_cluster(conn)
        where = f"kubeconfig {os.pathsep.join(paths)} is empty" if paths else "no kubeconfig found (KUBECONFIG, " \
            "~/.kube/config) and not running in a cluster"
        raise ClusterError(f"{where}; pass --kubeconfig, or --server (with --token), or use --files DIR")
    where = os.pathsep.join(paths) or "(none)"
    name = conn.context or current or ""
    context = _entry(merged, "contexts", name)
    if context is None and (conn.context or not conn.server):
        raise ClusterError(
            f"context {name!r} not found in kubeconfig {where}; pick one with --context" if name
            else f"kubeconfig {where} has no current context; pick one with --context"
        )
    settings = dict((context.value.get("context") or {}) if context is not None else {})
    cluster = _entry(merged, "clusters", conn.cluster or settings.get("cluster"))
    if cluster is None and not conn.server:
        wanted = conn.cluster or settings.get("cluster")
        raise ClusterError(f"cluster {wanted!r} not found in kubeconfig {where}; pick one with --cluster, "
                           "or give the API server's address with --server")
    user = _entry(merged, "users", conn.user or settings.get("user"))
    if conn.user and user is None:
        raise ClusterError(f"user {conn.user!r} not found in kubeconfig {where}; pick one with --user")
    # Without a context (only --server), messages name the server where they would name the context.
    return _configured(conn, name or f"(--server {conn.server})", str(settings.get("namespace") or "default"),
                       cluster, user)


def _configured(conn: Connection, name: str, namespace: str, cluster: Any, user: Any) -> Client:
    """The library's loader over the one context, cluster and user chosen, with the flags laid over them."""
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import ConfigNode, KubeConfigLoader

    single = ConfigNode("kubeconfig", {  # type: ignore[no-untyped-call]
        "current-context": name,
        "contexts": [{"name": name, "context": {"cluster": "cluster", "user": "user"}}],
        "clusters": [_overlaid(cluster, "cluster", _overrides(conn, _CLUSTER_FLAGS))],
        "users": [_overlaid(user, "user", _overrides(conn, _USER_FLAGS))],
    })
    configuration = client.Configuration()
    try:
        # config_base_path=None: relative certificate paths resolve against their own kubeconfig file.
        KubeConfigLoader(single, name, config_base_path=None).load_and_set(configuration)  # type: ignore[no-untyped-call]
    except ConfigException as err:
        raise ClusterError(f"cannot use context {name}: {err}") from err
    if not configuration.host or configuration.host == "http://localhost":
        raise ClusterError(f"context {name} names no API server; set the cluster's server or pass --server")
    return Client(configuration, name, namespace, _impersonation(conn, user))
