"""kubectl's connection flags resolved by `store.kubeconfig.load` (the kubernetes client's merger and loader
underneath): KUBECONFIG with several files, --context/--cluster/--user, the TLS and credential overrides,
no kubeconfig at all with --server, and impersonation. Nothing here talks to a server."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from required import built_tool

from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.kinds import NAMESPACE
from kubectl_canary.store.cluster import ClusterStore
from kubectl_canary.store.kubeconfig import Connection, load

from .fake_apiserver import FakeApiServer


def config(clusters: dict, users: dict, contexts: dict, current: str | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", **({"current-context": current} if current else {}),
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    })


@pytest.fixture
def two_files(tmp_path, monkeypatch):
    """KUBECONFIG=a:(missing):(empty):b, as a platform engineer's often reads."""
    (tmp_path / "a").write_text(config(
        {"dev": {"server": "https://dev.example:6443", "certificate-authority": "dev-ca.crt"}},
        {"dev-admin": {"token": "dev-token"}},
        {"dev": {"cluster": "dev", "user": "dev-admin", "namespace": "team-a"}}, current="dev"))
    (tmp_path / "empty").write_text("")
    (tmp_path / "b").write_text(config(
        {"prod": {"server": "https://prod.example:6443", "insecure-skip-tls-verify": True}},
        {"prod-reader": {"token": "prod-token", "as": "kubeconfig-jane", "as-groups": ["auditors"]}},
        {"prod": {"cluster": "prod", "user": "prod-reader"}}, current="prod"))
    for name in ("dev-ca.crt", "ca.pem", "me.crt", "me.key"):  # the loader checks that they exist
        (tmp_path / name).write_text("PEM")
    paths = [tmp_path / "a", tmp_path / "missing", tmp_path / "empty", tmp_path / "b"]
    monkeypatch.setenv("KUBECONFIG", ":".join(str(p) for p in paths))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_first_file_to_name_a_current_context_wins(two_files):
    client = load(Connection())
    assert (client.context, client.namespace) == ("dev", "team-a")
    assert client.configuration.host == "https://dev.example:6443"
    assert client.configuration.api_key["BearerToken"] == "Bearer dev-token"
    # A relative certificate path is read relative to the kubeconfig file that holds it.
    assert client.configuration.ssl_ca_cert == str(two_files / "dev-ca.crt")


def test_a_context_of_the_second_file_with_its_user_and_impersonation(two_files):
    client = load(Connection(context="prod"))
    assert (client.context, client.namespace) == ("prod", "default")
    assert client.configuration.verify_ssl is False
    assert client.impersonation == (("Impersonate-User", "kubeconfig-jane"), ("Impersonate-Group", "auditors"))


def test_cluster_and_user_flags_recombine_the_kubeconfig(two_files):
    client = load(Connection(context="dev", cluster="prod", user="prod-reader"))
    assert client.configuration.host == "https://prod.example:6443"
    assert client.configuration.api_key["BearerToken"] == "Bearer prod-token"
    assert client.namespace == "team-a"  # still the context's


def test_flags_lay_over_the_context(two_files):
    client = load(Connection(server="https://127.0.0.1:7443", token="flag-token", certificate_authority="ca.pem",
                             tls_server_name="kubernetes.default", as_user="system:serviceaccount:ci:deployer",
                             as_groups=("ci", "deployers"), as_uid="1234"))
    conf = client.configuration
    assert (conf.host, conf.api_key["BearerToken"]) == ("https://127.0.0.1:7443", "Bearer flag-token")
    assert (conf.ssl_ca_cert, conf.tls_server_name) == (str(two_files / "ca.pem"), "kubernetes.default")
    assert client.impersonation == (
        ("Impersonate-User", "system:serviceaccount:ci:deployer"), ("Impersonate-Group", "ci"),
        ("Impersonate-Group", "deployers"), ("Impersonate-Uid", "1234"),
    )


def test_skipping_tls_verification_drops_the_kubeconfig_ca(two_files):
    conf = load(Connection(insecure_skip_tls_verify=True)).configuration
    assert conf.verify_ssl is False and conf.ssl_ca_cert is None


def test_client_certificate_flags(two_files):
    conf = load(Connection(client_certificate="me.crt", client_key="me.key")).configuration
    assert (conf.cert_file, conf.key_file) == (str(two_files / "me.crt"), str(two_files / "me.key"))


def test_server_and_token_need_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    client = load(Connection(server="https://127.0.0.1:6443", token="sa-token"))
    assert (client.configuration.host, client.namespace) == ("https://127.0.0.1:6443", "default")
    assert client.context == "(--server https://127.0.0.1:6443)"  # what messages name instead of a context
    assert client.configuration.api_key["BearerToken"] == "Bearer sa-token"


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        (Connection(context="staging"), r"^context 'staging' not found in kubeconfig .*/a:.*/b; pick one with"),
        (Connection(cluster="nope"), r"^cluster 'nope' not found in kubeconfig .*; pick one with --cluster, or give"),
        (Connection(user="nobody"), r"^user 'nobody' not found in kubeconfig .*; pick one with --user"),
        (Connection(as_groups=("devs",)), r"^--as-group and --as-uid impersonate a user: name the user with --as"),
    ],
)
def test_what_is_not_there_is_named_with_the_flag_to_fix_it(two_files, connection, message):
    with pytest.raises(ClusterError, match=message):
        load(connection)


def test_only_empty_kubeconfigs_is_no_kubeconfig(tmp_path, monkeypatch):
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "empty"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match=r"kubeconfig .*/empty is empty; pass --kubeconfig, or --server"):
        load(Connection())


# ---- the same inputs given to the built kubectl (a differential test) ------------------------------
# Two API servers (stand-ins on loopback that record each request); a KUBECONFIG of four files, one missing
# and one empty; the plugin and kubectl each send one GET under the same flags. Which server received it,
# with which credentials and impersonation, and the namespace each would work in, must be the same; and a
# flag naming what the kubeconfig lacks must be an error for both.

FLAGS: dict[str, dict[str, Any]] = {
    "current-context": {},
    "context": {"context": "prod"},
    "context-cluster-user": {"context": "dev", "cluster": "prod", "user": "prod-reader"},
    "cluster-only": {"cluster": "prod"},
    "user-only": {"user": "prod-reader"},
    "server-token": {"server": "PROD", "token": "flag-token"},
    "impersonation": {"as_user": "system:serviceaccount:ci:deployer", "as_groups": ("ci", "deployers")},
    "impersonation-over-the-users": {"context": "prod", "as_user": "jane"},
    "clashing-names": {"context": "shadow"},
    "kubeconfig-flag": {"kubeconfig": "b"},
    "kubeconfig-flag-and-context": {"kubeconfig": "b", "context": "shadow"},
    "missing-context": {"context": "staging"},
    "missing-cluster": {"cluster": "nope"},
    "missing-user": {"user": "nobody"},
}
KUBECTL_FLAG = {"kubeconfig": "--kubeconfig", "context": "--context", "cluster": "--cluster", "user": "--user",
                "server": "--server", "token": "--token", "as_user": "--as", "as_groups": "--as-group"}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeApiServer]]:
    found = {"DEV": FakeApiServer(tls=True), "PROD": FakeApiServer(tls=True)}
    for api in found.values():
        api.answers[("GET", "/api/v1/namespaces/echo")] = (200, {"apiVersion": "v1", "kind": "Namespace",
                                                                 "metadata": {"name": "echo"}}, [])
    yield found
    for api in found.values():
        api.close()


@pytest.fixture(scope="module")
def kubectl() -> str:
    return built_tool("kubectl")  # before HOME moves: the tools cache may be under it


@pytest.fixture
def merged_files(tmp_path, monkeypatch, servers, kubectl):
    ca = base64.b64encode(servers["DEV"].ca_pem).decode()  # one CA certifies both
    dev, prod = ({"server": servers[name].url, "certificate-authority-data": ca} for name in ("DEV", "PROD"))
    (tmp_path / "a").write_text(config(
        {"dev": dev, "shadowed": dev},
        {"dev-admin": {"token": "dev-token"}},
        {"dev": {"cluster": "dev", "user": "dev-admin", "namespace": "team-a"},
         "shadow": {"cluster": "shadowed", "user": "dev-admin", "namespace": "first"}}, current="dev"))
    (tmp_path / "empty").write_text("")
    (tmp_path / "b").write_text(config(
        # `shadowed` and `shadow` again: the first file's win, in kubectl's merge
        {"prod": prod, "shadowed": prod},
        {"prod-reader": {"token": "prod-token", "as": "kubeconfig-jane", "as-groups": ["auditors"]}},
        {"prod": {"cluster": "prod", "user": "prod-reader"},
         "shadow": {"cluster": "prod", "user": "prod-reader", "namespace": "second"}}, current="prod"))
    paths = [tmp_path / "a", tmp_path / "missing", tmp_path / "empty", tmp_path / "b"]
    monkeypatch.setenv("KUBECONFIG", ":".join(str(p) for p in paths))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _received(servers: dict[str, FakeApiServer]) -> list[tuple[str, str | None, tuple[str, ...] | None, str | None]]:
    """Each server's requests as (server, Authorization, Impersonate-Group values, Impersonate-User), cleared."""
    seen = []
    for name, api in servers.items():
        for request in (r for r in api.requests if r["path"] == "/api/v1/namespaces/echo"):
            headers = request["header_values"]
            seen.append((name, request["headers"].get("authorization"), tuple(headers.get("impersonate-group") or ()),
                         request["headers"].get("impersonate-user")))
        api.requests.clear()
    return seen


@pytest.mark.parametrize("case", FLAGS.values(), ids=FLAGS.keys())
def test_the_plugin_connects_where_kubectl_connects(merged_files, servers, kubectl, case):
    given = {"server": lambda v: servers[v].url, "kubeconfig": lambda v: str(merged_files / v)}
    case = {k: given[k](v) if k in given else v for k, v in case.items()}
    args = [f"{KUBECTL_FLAG[k]}={item}" for k, v in case.items() for item in (v if isinstance(v, tuple) else [v])]
    _received(servers)
    proc = subprocess.run([kubectl, *args, "get", "--raw", "/api/v1/namespaces/echo"], capture_output=True,
                          text=True, timeout=60)
    by_kubectl = _received(servers)
    try:
        store = ClusterStore(Connection(**case))
    except ClusterError as err:
        assert proc.returncode != 0 and by_kubectl == [], f"kubectl connected ({by_kubectl}); the plugin: {err}"
        return
    assert proc.returncode == 0, f"the plugin connected; kubectl: {proc.stderr}"
    assert store.get(NAMESPACE, "", "echo") is not None
    assert _received(servers) == by_kubectl
    # The namespace commands work in: the context's (kubectl's --minify view names the context in use).
    if "server" not in case:
        view = subprocess.run([kubectl, "config", "view", "--minify", "-o", "json", *args], capture_output=True,
                              text=True, timeout=60, check=True)
        contexts = json.loads(view.stdout)["contexts"]
        assert store.default_namespace == (contexts[0]["context"].get("namespace") or "default")
