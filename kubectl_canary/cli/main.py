"""Entry point of the `kubectl-canary` executable (placeholder until the commands land)."""

import sys


def main() -> None:
    sys.exit("kubectl-canary: not built yet")
