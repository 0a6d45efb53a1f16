"""Entry point of the `kubectl-canary` executable, which kubectl runs as `kubectl canary`."""

from __future__ import annotations

from kubectl_canary.cli.commands import cli


def main() -> None:
    cli.main(prog_name="kubectl canary")


if __name__ == "__main__":
    main()
