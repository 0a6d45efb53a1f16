"""Times `kubectl canary` as whole processes: the median wall time of N runs of each path that must stay
fast (help, and every --files or client dry-run path, none of which imports the kubernetes client),
next to `python -c pass` and `import kubernetes.client` for scale. Prints a table; asserts nothing.

    .venv/bin/python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PLUGIN = str(BIN / "kubectl-canary")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
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


if __name__ == "__main__":
    main()
