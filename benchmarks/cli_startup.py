"""Times `kubectl canary` as whole processes: the median wall time of N runs of each path that must stay
fast (help, and every --files or client dry-run path, none of which imports the kubernetes client),
next to `python -c pass` and `import kubernetes.client` for scale. Then, when the e2e tools are built,
against a real local kube-apiserver: `kubectl canary shift` next to `kubectl patch` making the same
change, and `kubectl canary status` next to `kubectl get -o yaml`, both through kubectl, runs
interleaved, with the ratio (the issue's target: within 3x). Beside them, the floor of any Python
plugin: kubectl running a plugin that does nothing, one that imports only click and PyYAML, and one
that also imports urllib3 and ssl (what talking HTTPS to a cluster needs), and the kubernetes client's
kubeconfig loader on top of ours. The package is byte-compiled first, as `pip install` does, so an
editable checkout (or PYTHONDONTWRITEBYTECODE) does not time the compiler. Prints tables; asserts nothing.

    .venv/bin/python benchmarks/cli_startup.py [--runs N] [--cluster-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PLUGIN = str(BIN / "kubectl-canary")
ROOT = Path(__file__).resolve().parents[1]
# Plugins that do no work, each importing a little more: the cost of a Python plugin before it does anything.
FLOORS = {
    "floor-nothing": "pass",
    "floor-click-yaml": "import click, yaml",
    "floor-https": "import click, yaml, ssl, urllib3",
    "floor-ours": "import kubectl_canary.cli.main",
    "floor-ours-kubernetes": "import kubectl_canary.cli.main, kubernetes.config",
}


def floor_plugins(directory: Path) -> None:
    """Write the FLOORS plugins as `kubectl-NAME` executables in `directory`, run by this interpreter."""
    for name, body in FLOORS.items():
        path = directory / f"kubectl-{name.replace('-', '_')}"  # kubectl floor-x runs kubectl-floor_x
        path.write_text(f"#!{sys.executable}\n{body}\n")
        path.chmod(0o755)


def timed(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of `runs` runs of `command`.

    CPU time is shown too because wall time swings with the machine's load; CPU time barely does.
    """
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def cluster_ratios(runs: int) -> None:
    """kubectl canary next to kubectl doing the same work on one local control plane; runs alternate."""
    # The root first: on its own, tests/ would make tests/webhook/ stand in for the package `webhook`.
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from e2e import tools
    from e2e.controlplane import ControlPlane

    if tools.missing():
        print("\ncluster comparison skipped: the e2e tools are not built (make tools)")
        return
    with ControlPlane() as cp, tempfile.TemporaryDirectory(prefix="canary-floor-") as floors:
        cp.install_crds([tools.gloo_crds_dir()])
        kubectl = str(tools.tool("kubectl"))
        floor_plugins(Path(floors))
        path = os.pathsep.join([floors, str(BIN), os.environ["PATH"]])
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig), "PATH": path}

        def run(*args: str, exits: tuple[int, ...] = (0,)) -> float:
            start = time.perf_counter()
            done = subprocess.run([kubectl, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            took = time.perf_counter() - start
            if done.returncode not in exits:
                raise SystemExit(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
            return took

        ns = ["-n", "default"]
        run("canary", "init", "echo", "--version", "v1", "--api-group", "example", *ns)
        run("canary", "start", "echo", "--version", "v2", *ns)
        run("canary", "shift", "echo", "--weight", "1", *ns)
        pairs = {
            "shift (one RouteTable write)": (
                lambda i: run("canary", "shift", "echo", "--weight", str(2 + i % 50), *ns),
                lambda i: run("patch", "routetable", "echo-routes", *ns, "--type=merge", "-p", json.dumps(
                    {"metadata": {"annotations": {"kubectl-canary.io/weight": str(2 + i % 50)}}}))),
            # Exit 1 is status reporting problems: this cluster has no Gloo and runs no pods for echo.
            "status (read)": (lambda i: run("canary", "status", "echo", *ns, exits=(0, 1)),
                              lambda i: run("get", "routetable", "echo-routes", *ns, "-o", "yaml")),
            "--help": (lambda i: run("canary", "--help"), lambda i: run("--help")),
        }
        patch = pairs["shift (one RouteTable write)"][1]
        for name in FLOORS:
            pairs[name] = ((lambda plugin: lambda i: run(plugin))(name), patch)
        print(f"\nthrough kubectl, one local kube-apiserver (median of {runs} alternating runs)")
        print(f"{'work':<30} {'kubectl canary':>15} {'kubectl':>9} {'ratio':>7}")
        for name, (ours, theirs) in pairs.items():
            mine, base = [], []
            for i in range(runs):
                mine.append(ours(i))
                base.append(theirs(i))
            m, b = statistics.median(mine), statistics.median(base)
            print(f"{name:<30} {m * 1000:13.1f}ms {b * 1000:7.1f}ms {m / b:6.1f}x")
        print("floor-* rows: kubectl running a Python plugin that only imports, next to kubectl patch:")
        for name, body in FLOORS.items():
            print(f"  {name:<28} {body}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--cluster-runs", type=int, default=8)
    args = parser.parse_args()
    runs = args.runs
    # As a non-editable install is: compiled once, so no run below times the bytecode compiler.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubectl_canary")], check=True)
    with tempfile.TemporaryDirectory(prefix="canary-bench-") as tmp:
        files = ["-n", "echo", "--files", tmp]
        subprocess.run([PLUGIN, "init", "echo", "--version", "v1", "--api-group", "example", *files], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([PLUGIN, "start", "echo", "--version", "v2", *files], check=True, stdout=subprocess.DEVNULL)
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import kubernetes.client'", [sys.executable, "-c", "import kubernetes.client"]),
            ("kubectl-canary --help", [PLUGIN, "--help"]),
            ("status echo --files", [PLUGIN, "status", "echo", *files]),
            ("shift echo --weight 50 --files", [PLUGIN, "shift", "echo", "--weight", "50", *files]),
            ("finish echo --dry-run=client --files -o yaml",
             [PLUGIN, "finish", "echo", "--dry-run=client", "-o", "yaml", *files]),
        ]
        rows = [(name, timed(command, runs)) for name, command in cases]
    width = max(len(name) for name, _ in rows)
    print(f"{'command (median of ' + str(runs) + ' runs)':<{width}}      wall       cpu")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}   {wall * 1000:7.1f}ms {cpu * 1000:7.1f}ms")
    if args.cluster_runs:
        cluster_ratios(args.cluster_runs)


if __name__ == "__main__":
    main()
