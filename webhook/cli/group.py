"""The `canary-webhook` command group, and how a command's domain error becomes its exit code.

InvalidObject and UsageError exit 2, other CanaryErrors their own code (1), with one line on stderr.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from kubectl_canary.core.errors import CanaryError, InvalidObject, UsageError


def fail(err: CanaryError) -> NoReturn:
    click.echo(f"canary-webhook: {err}", err=True)
    sys.exit(2 if isinstance(err, (UsageError, InvalidObject)) else err.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Admission webhook that guards every Gloo RouteTable (mutate + validate)."""
