"""A local Kubernetes cluster for end-to-end tests: a real etcd, kube-apiserver and
kube-controller-manager (built by build-tools.sh) on free loopback ports, with their own CA, an
admin client certificate (group system:masters), RBAC authorization and the admission webhooks
enabled, so that RBAC and webhook behaviour is the real thing, plus our node agent (nodeagent.py) in
the kubelet's place: Deployments become ReplicaSets and Pods, the pods really run and serve on their
own addresses, Endpoints follow their readiness, and namespaces and owned objects are really
deleted. No scheduler runs; the agent binds pods to its Node. Everything lives in a temp dir that
`stop()` removes; the processes run in their own process groups and are killed with it.

The pod addresses live on `lo` of a network namespace of its own (tests/e2e/netns.sh, which `make
test` uses): `start()` refuses to run anywhere else.
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.tls import certs

from . import tools

CONTEXT = "canary-e2e"
NODE = "canary-e2e-node"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class ControlPlaneError(RuntimeError):
    """The control plane failed to start or to answer."""


class KubectlError(subprocess.CalledProcessError):
    """A kubectl run that failed; unlike CalledProcessError its message includes stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def require_own_netns() -> None:
    """Refuse to start outside a network namespace of our own (one with only `lo`, and the veths `pod<N>`
    that this run's node agent made for its pods): test traffic may only reach what this run made."""
    with open("/proc/self/net/dev") as dev:
        interfaces = {line.split(":", 1)[0].strip() for line in dev.readlines()[2:]}
    if any(name != "lo" and not re.fullmatch(r"pod\d+", name) for name in interfaces):
        raise ControlPlaneError(
            f"the e2e cluster runs only inside a network namespace of its own, but this one has "
            f"{', '.join(sorted(interfaces))}: run `make test`, or tests/e2e/netns.sh .venv/bin/python -m pytest ..."
        )


def _unverified() -> ssl.SSLContext:
    """For the controller-manager's /healthz, served with a certificate it makes itself."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def written(obj: dict[str, object]) -> dict[str, object]:
    """What a client's write could change in `obj`: spec, labels and annotations. Controllers keep writing
    the rest while a test runs (statuses, Gloo's status UPDATEs that bump resourceVersion, the Deployment
    controller's revision annotation), so "nothing was written" is judged on this."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("deployment.kubernetes.io/")}
    return {"spec": obj.get("spec"), "labels": meta.get("labels"), "annotations": annotations}


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Long enough for a test session; short, since the keys are thrown away.
VALID_DAYS = 2


class CertAuthority:
    """A throwaway CA for the control plane: serving certificates from `webhook.tls.certs` (the ones the
    webhook itself uses), and the client certificates that only a test cluster needs."""

    def __init__(self, common_name: str = "canary-e2e-ca") -> None:
        self.cert, self.key = certs.new_ca(common_name, days=VALID_DAYS)

    @property
    def cert_pem(self) -> bytes:
        return certs.cert_pem(self.cert)

    def issue(
        self, common_name: str, organizations: Iterable[str] = (), hosts: Iterable[str] = ()
    ) -> tuple[bytes, bytes]:
        """(cert PEM, key PEM). With `hosts` (DNS names or IPs) it is a serving cert, else a client cert.

        Kubernetes reads a client cert's CN as the user name and its O entries as the groups.
        """
        hosts = list(hosts)
        if hosts:
            ips = [h for h in hosts if certs.is_ip(h)]
            cert, key = certs.new_serving_cert(
                self.cert, self.key, [h for h in hosts if h not in ips], ips, days=VALID_DAYS
            )
        else:
            cert, key = self._client(common_name, organizations)
        return certs.cert_pem(cert), certs.key_pem(key)

    def _client(self, user: str, groups: Iterable[str]) -> tuple[x509.Certificate, certs.Key]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
        subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # Backdated so that small clock differences never make a cert "not yet valid".
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


# Loaded here, in the parent: the forked child should only make the call.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: own process group, and SIGKILL if the test process dies without cleaning up."""
    os.setpgid(0, 0)
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """etcd + kube-apiserver on loopback; use as a context manager or call start()/stop().

    After start(): `server` (https URL), `kubeconfig` (admin, context "canary-e2e"), `ca` (the
    CertAuthority, also usable for webhook serving certs), `dir` (temp dir with logs and certs).
    """

    def __init__(self, startup_timeout: float = 90.0, extra_apiserver_args: Sequence[str] = (),
                 node: bool = True) -> None:
        # node=False: etcd and kube-apiserver only (no controllers, no node agent), a bare API server for
        # what needs no pod, such as a cluster without this project's or Gloo's CRDs (test_crd_absent).
        self.startup_timeout = startup_timeout
        self.node = node
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.dir = Path()
        self.server = ""
        self.kubeconfig = Path()
        self.ca = CertAuthority()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._user_kubeconfigs: dict[str, Path] = {}

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start etcd, kube-apiserver, kube-controller-manager and the node agent; wait until the API
        is ready and the Node is registered; write the admin kubeconfig."""
        require_own_netns()
        self.dir = Path(tempfile.mkdtemp(prefix="canary-e2e-"))
        try:
            self._write_certs()
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self.kubeconfig = self._write_kubeconfig("admin", self.dir / "admin.crt", self.dir / "admin.key")
            self._wait_ready()
            if self.node:
                self._start_controller_manager()
                self._start_node_agent()
        except BaseException:
            self.stop()
            raise

    # ---- setup -------------------------------------------------------------------------------

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def _write_certs(self) -> None:
        self._write("ca.crt", self.ca.cert_pem)
        hosts = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
        hosts.append(str(next(ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE).hosts())))
        cert, key = self.ca.issue("kube-apiserver", hosts=hosts)
        self._write("apiserver.crt", cert)
        self._write("apiserver.key", key)
        cert, key = self.ca.issue("admin", ["system:masters"])
        self._write("admin.crt", cert)
        self._write("admin.key", key)
        # Service-account tokens must be RSA or EC signed; the apiserver refuses to start without a key.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._write("sa.key", sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        pub = sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._write("sa.pub", pub)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps writing to it
        with log:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, cwd=self.dir,
            )
        self._procs[name] = proc
        return proc

    def _start_etcd(self) -> str:
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        self._spawn("etcd", [
            str(tools.tool("etcd")), "--name=default", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            # Test data is throwaway: skipping fsync makes every write much faster.
            "--unsafe-no-fsync",
        ])
        self._poll("etcd", f"{client}/health", None)
        return client

    def _start_apiserver(self, etcd_url: str) -> None:
        port = free_port()
        d = self.dir
        self._spawn("kube-apiserver", [
            str(tools.tool("kube-apiserver")),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--cert-dir={d / 'apiserver-certs'}",
            f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={d / 'sa.pub'}", f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            # The "kubernetes" Service endpoints may not point at loopback; nothing in-cluster needs them.
            "--endpoint-reconciler-type=none",
            "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
            # Pods here run no containers that could mount a token; ServiceAccount admission would
            # only add a projected volume nothing reads (envtest disables it for the same reason).
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            # A webhook's clientConfig.service is reached at a ready endpoint of the Service's EndpointSlices,
            # picked per new connection, as kube-proxy would route its ClusterIP (none routes here): so a
            # test can move a Service's traffic from one webhook process to another (test_webhook_restart).
            "--enable-aggregator-routing=true",
            *self.extra_apiserver_args,
        ])
        self.server = f"https://127.0.0.1:{port}"

    def _start_controller_manager(self) -> None:
        port = free_port()
        d = self.dir
        self._spawn("kube-controller-manager", [
            str(tools.tool("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}", f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            f"--secure-port={port}", "--bind-address=127.0.0.1", f"--cert-dir={d / 'kcm-certs'}",
            "--leader-elect=false", "--use-service-account-credentials=false",
            f"--service-account-private-key-file={d / 'sa.key'}", f"--root-ca-file={d / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # Test namespaces come and go quickly; the default 5 minute resync only slows GC down.
            "--concurrent-gc-syncs=5", "--concurrent-namespace-syncs=5",
        ])
        self._poll("kube-controller-manager", f"https://127.0.0.1:{port}/healthz", _unverified())

    def _start_node_agent(self) -> None:
        agent = Path(__file__).resolve().with_name("nodeagent.py")
        (self.dir / "pods").mkdir()
        self._spawn("nodeagent", [sys.executable, str(agent), f"--kubeconfig={self.kubeconfig}",
                                  f"--node={NODE}", f"--log-dir={self.dir / 'pods'}"])
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._procs["nodeagent"].poll() is not None:
                raise self._failure("nodeagent", f"exited with code {self._procs['nodeagent'].returncode}")
            ready = self.kubectl("get", "node", NODE, "-o", "jsonpath={.status.conditions[0].status}", check=False)
            if ready.stdout == "True":
                return
            time.sleep(0.25)
        raise self._failure("nodeagent", f"Node {NODE} not Ready after {self.startup_timeout}s")

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        ctx.load_cert_chain(self.dir / "admin.crt", self.dir / "admin.key")
        return ctx

    def _poll(self, name: str, url: str, ctx: ssl.SSLContext | None) -> None:
        """Poll url until it answers 200; fail early if the process exits, with its log tail."""
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            if self._procs[name].poll() is not None:
                raise self._failure(name, f"exited with code {self._procs[name].returncode}")
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as err:  # e.g. /readyz 500 listing the checks not ready yet
                last = err.read().decode(errors="replace")[-2000:]
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.25)
        raise self._failure(name, f"{url} not ready after {self.startup_timeout}s; last answer: {last}")

    def _failure(self, name: str, what: str) -> ControlPlaneError:
        log = self.dir / f"{name}.log"
        return ControlPlaneError(f"{name} {what}\n--- last lines of {log} ---\n{_tail(log)}")

    def _wait_ready(self) -> None:
        self._poll("kube-apiserver", f"{self.server}/readyz", self._ssl_context())

    def _write_kubeconfig(self, user: str, cert: Path, key: Path) -> Path:
        """A kubeconfig with everything inline. JSON is valid YAML, so no YAML library is needed."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT, "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {
                "server": self.server, "certificate-authority-data": _b64(self.dir / "ca.crt")}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        }
        return self._write(f"kubeconfig-{user}", json.dumps(config, indent=2).encode())

    # ---- public helpers ----------------------------------------------------------------------

    def kubeconfig_for_user(self, name: str, groups: Iterable[str] = ()) -> Path:
        """A kubeconfig (context "canary-e2e") authenticating as user `name` in `groups`.

        Nothing is granted: RBAC denies everything until a (Cluster)RoleBinding allows it.
        """
        cert, key = self.ca.issue(name, groups)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        path = self._write_kubeconfig(safe, self._write(f"{safe}.crt", cert), self._write(f"{safe}.key", key))
        self._user_kubeconfigs[name] = path
        return path

    def kubectl(
        self, *args: str, user: str | None = None, check: bool = True,
        input: str | None = None, timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl as admin (or as `user`, see kubeconfig_for_user); text output.

        With check=True a non-zero exit raises KubectlError, whose message includes stderr.
        """
        config = self._kubeconfig_of(user)
        cmd = [str(tools.tool("kubectl")), f"--kubeconfig={config}", f"--cache-dir={self.dir / 'kube-cache'}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def _kubeconfig_of(self, user: str | None) -> Path:
        if user is None:
            return self.kubeconfig
        return self._user_kubeconfigs.get(user) or self.kubeconfig_for_user(user)

    def install_crds(self, paths: Iterable[Path | str], timeout: float = 60) -> list[str]:
        """Server-side apply CRD files/dirs and wait until every CRD is Established; returns crd names."""
        files = [arg for path in paths for arg in ("-f", str(path))]
        applied = self.kubectl("apply", "--server-side", "--force-conflicts", "-o", "name", *files)
        names = [line for line in applied.stdout.split() if line.startswith("customresourcedefinition")]
        if names:
            self.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names,
                         timeout=timeout + 30)
        return [name.split("/", 1)[1] for name in names]

    def stop(self) -> None:
        """Terminate kube-apiserver then etcd (SIGTERM, SIGKILL after 5 s) and remove the temp dir.

        Set KUBECTL_CANARY_E2E_KEEP=1 to keep the temp dir (logs, certs, kubeconfigs) for debugging.
        """
        for name in ("nodeagent", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                _terminate(proc)
        if self.dir != Path() and self.dir.exists() and not os.environ.get("KUBECTL_CANARY_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def _terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()
