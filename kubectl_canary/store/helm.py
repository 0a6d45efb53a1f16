"""The `helm` on PATH (Helm 3 or Helm 4), for services whose objects belong to a Helm release: read the
release and its values, and `helm install` / `helm upgrade` it with new values. Helm's own messages are
passed on; a failed upgrade names the `helm rollback` that restores the release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_canary.core import names
from kubectl_canary.core.errors import ClusterError, NotFound
from kubectl_canary.store.kubeconfig import Connection

# Annotations Helm 3 and 4 put on every object of a release.
RELEASE_NAME = names.HELM_RELEASE
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
CHART_NAME = "gloo-app"
# How long `helm upgrade --wait` may take (Helm's own default is 5m).
WAIT_TIMEOUT = "300s"


class HelmError(ClusterError):
    """`helm` failed; the message carries Helm's own."""


def release_of(obj: Mapping[str, Any] | None) -> str | None:
    """The Helm release an object belongs to (its `meta.helm.sh/release-name` annotation)."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    name = annotations.get(RELEASE_NAME)
    return str(name) if name else None


def default_chart() -> Path | None:
    """This project's chart: $KUBECTL_CANARY_CHART, else the one installed with the package (package data
    `kubectl_canary/charts`, in a checkout a link to the repository's charts/)."""
    env = os.environ.get("KUBECTL_CANARY_CHART")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).parents[1] / "charts" / CHART_NAME)
    return next((c for c in candidates if (c / "Chart.yaml").is_file()), None)


@dataclass(frozen=True)
class Release:
    """One Helm release as `helm list` shows it."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str  # name-version, e.g. gloo-app-0.1.0

    @property
    def chart_name(self) -> str:
        return self.chart.rsplit("-", 1)[0] if "-" in self.chart else self.chart


def _flags(connection: Connection) -> list[str]:
    """kubectl's connection flags in Helm's spelling (Helm has no --cluster/--user/--client-*)."""
    pairs = [("--kubeconfig", connection.kubeconfig), ("--kube-context", connection.context),
             ("--kube-apiserver", connection.server), ("--kube-token", connection.token),
             ("--kube-as-user", connection.as_user), ("--kube-ca-file", connection.certificate_authority),
             ("--kube-tls-server-name", connection.tls_server_name)]
    out = [f"{flag}={value}" for flag, value in pairs if value]
    out += [f"--kube-as-group={group}" for group in connection.as_groups]
    if connection.insecure_skip_tls_verify:
        out.append("--kube-insecure-skip-tls-verify")
    return out


@dataclass(frozen=True)
class Helm:
    """The `helm` binary and the connection flags every call carries."""

    binary: str
    connection: Connection = field(default_factory=Connection)

    @staticmethod
    def find(connection: Connection | None = None) -> Helm | None:
        """The `helm` on PATH, or None."""
        found = shutil.which("helm")
        return Helm(found, connection or Connection()) if found else None

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args, *_flags(self.connection)], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def version(self) -> str:
        return self.run("version", "--template", "{{.Version}}").stdout.strip()

    def release(self, name: str, namespace: str) -> Release | None:
        # The statuses a release can be changed from (Helm 4 has no --all); `helm list` alone shows deployed only.
        proc = self.run("list", "-n", namespace, "--filter", f"^{name}$", "--deployed", "--failed", "--pending",
                        "-o", "json")
        if proc.returncode != 0:
            raise HelmError(f"helm list -n {namespace} failed: {proc.stderr.strip()}")
        for item in json.loads(proc.stdout or "[]"):
            if item.get("name") == name:
                return Release(name, namespace, int(item.get("revision") or 0), str(item.get("status") or ""),
                               str(item.get("chart") or ""))
        return None

    def values(self, name: str, namespace: str) -> str:
        """The values the release was installed or upgraded with (`helm get values`, YAML)."""
        proc = self.run("get", "values", name, "-n", namespace, "-o", "yaml")
        if proc.returncode != 0:
            raise NotFound(f"Helm release {namespace}/{name}: {proc.stderr.strip()}")
        return "" if proc.stdout.strip() in ("", "null", "{}") else proc.stdout

    def revisions(self, namespace: str | None) -> dict[tuple[str, str], int]:
        """The revision of every release in `namespace` (None: all namespaces), by (namespace, name)."""
        scope = ["-A"] if namespace is None else ["-n", namespace]
        proc = self.run("list", *scope, "--deployed", "--failed", "--pending", "-o", "json")
        if proc.returncode != 0:
            raise HelmError(f"helm list failed: {proc.stderr.strip()}")
        return {(str(i.get("namespace")), str(i.get("name"))): int(i.get("revision") or 0)
                for i in json.loads(proc.stdout or "[]")}

    def history(self, name: str, namespace: str) -> list[dict[str, Any]]:
        proc = self.run("history", name, "-n", namespace, "-o", "json")
        if proc.returncode != 0:
            raise HelmError(f"helm history {name} -n {namespace} failed: {proc.stderr.strip()}")
        found: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
        return found

    def deploy(self, verb: str, name: str, namespace: str, chart: str, values: str,
               dry_run: str = "none", before: Release | None = None) -> subprocess.CompletedProcess[str]:
        """`helm install|upgrade NAME CHART -n NS -f VALUES --wait`; HelmError with Helm's message (and the
        rollback that restores `before`) when it fails."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=f"{name}-values-", delete=False) as handle:
            handle.write(values)
        try:
            args = [verb, name, chart, "-n", namespace, "-f", handle.name, "--wait", "--timeout", WAIT_TIMEOUT]
            if dry_run != "none":
                args.append(f"--dry-run={dry_run}")
            proc = self.run(*args)
        finally:
            Path(handle.name).unlink(missing_ok=True)
        if proc.returncode != 0:
            message = proc.stderr.strip() or proc.stdout.strip()
            restore = (f"; the release is as Helm left it: restore revision {before.revision} with "
                       f"`helm rollback {name} {before.revision} -n {namespace}`") if before else ""
            raise HelmError(f"helm {verb} {name} failed: {message}{restore}")
        return proc
