"""Entry point of the `canary-webhook` console script: the group with every command registered."""

from __future__ import annotations

# Importing the command modules registers their commands on the group.
from webhook.cli import certs, review, serve  # noqa: F401
from webhook.cli.group import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli()
