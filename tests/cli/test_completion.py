"""`kubectl_complete-canary`'s output (Cobra's format, which kubectl reads) for commands, flags, namespaces
and services, on a MemoryStore that stands for the cluster; and that it never fails the shell. Through
the real kubectl and kube-apiserver: tests/e2e/test_kubectl_native.py."""

from __future__ import annotations

import pytest
from conftest import service_objects

from kubectl_canary.cli.completion import complete
from kubectl_canary.cli.env import Env, StoreOptions
from kubectl_canary.core.errors import ClusterError
from kubectl_canary.core.routes import RouteState
from kubectl_canary.store.memory import MemoryStore

WEIGHTED = RouteState("v1", "v2", 50, (("stage", "canary"),))


def cluster() -> MemoryStore:
    objects = service_objects(WEIGHTED, {"v1": "primary", "v2": "canary"})
    objects += service_objects(WEIGHTED, {"v1": "primary"}, service="billing")
    objects += service_objects(WEIGHTED, {"v1": "primary"}, namespace="shop", service="cart")
    objects += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                for n in ("echo", "shop", "kube-system")]
    return MemoryStore(objects, default_namespace="echo")


def lines(args: list[str], store: MemoryStore | None = None) -> list[str]:
    seen: list[StoreOptions] = []

    def factory(options: StoreOptions) -> MemoryStore:
        seen.append(options)
        return store or cluster()

    return complete(args, Env(factory)).splitlines()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["s"], ["shift\t", "start\t", "status\t", ":4"]),
        (["shift", "--we"], ["--weight\tThe canary's share (0..100) of the requests without the header.", ":4"]),
        (["finish", "echo", "--force"], ["--force-conflicts\t", ":4"]),
        (["status", "--as-"], ["--as-group\t", "--as-uid\t", ":4"]),
        (["shift", ""], ["billing", "echo", ":4"]),
        (["finish", "-n", "shop", "c"], ["cart", ":4"]),
        (["abort", "-n", ""], ["echo", "kube-system", "shop", ":4"]),
        (["list", "--namespace", "s"], ["shop", ":4"]),
        (["status", "--dry-run", ""], ["none", "client", "server", ":4"]),
        (["init", "echo", "--files", ""], [":16"]),  # the shell lists directories
        (["start", "echo", "--version", ""], [":4"]),  # nothing to suggest for free text
    ],
)
def test_completions(args, expected):
    found = lines(args)
    assert len(found) == len(expected), found
    # Descriptions are click's help texts; compare them only where the expectation gives one.
    shown = [f"{line.split(chr(9))[0]}\t" if want.endswith("\t") else line
             for line, want in zip(found, expected, strict=True)]
    assert shown == expected


def test_a_cluster_that_fails_completes_nothing_and_says_nothing(capsys):
    failing = MemoryStore([], fail_on=("list", None), failure=ClusterError("cannot reach the cluster"))
    assert lines(["shift", ""], failing) == [":4"]
    assert capsys.readouterr().err == ""


def test_the_flags_typed_so_far_choose_the_store():
    seen: list[StoreOptions] = []
    complete(["shift", "--context", "prod", "--as", "jane", ""], Env(lambda o: seen.append(o) or cluster()))
    assert (seen[0].connection.context, seen[0].connection.as_user) == ("prod", "jane")
    # Every <TAB> runs this: a cluster that does not answer must not hang the shell.
    assert seen[0].connection.request_timeout == 5.0
