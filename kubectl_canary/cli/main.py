"""Entry point of the `kubectl-canary` executable, which kubectl runs as `kubectl canary`."""

from __future__ import annotations

# Importing the command modules registers their commands on the group.
from kubectl_canary.cli import adoption, commands, inspection  # noqa: F401
from kubectl_canary.cli.group import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli.main(prog_name="kubectl canary")


if __name__ == "__main__":
    main()
