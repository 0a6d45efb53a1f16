"""`canary-webhook certs`: a CA and a serving certificate it signs, written as PEM files (`webhook.tls.certs`)."""

from __future__ import annotations

from pathlib import Path

import click

from kubectl_canary.core.errors import CanaryError, UsageError
from webhook.cli.group import cli, fail
from webhook.tls import certs


@cli.command("certs")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dns", "dns", multiple=True, metavar="NAME",
              help="DNS name (repeatable), e.g. canary-webhook.canary-system.svc")
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="IP address (repeatable).")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 36500))
def certs_command(out: Path, dns: tuple[str, ...], ips: tuple[str, ...], days: int) -> None:
    """Write ca.crt, tls.crt and tls.key to --out and print the base64 caBundle."""
    try:
        if not dns and not ips:
            raise UsageError("give at least one --dns NAME or --ip ADDR")
        bad = [ip for ip in ips if not certs.is_ip(ip)]
        if bad:
            raise UsageError(f"not an IP address: {', '.join(bad)}")
        ca = certs.issue(out, dns, ips, days)
    except CanaryError as err:
        fail(err)
    click.echo(f"canary-webhook: wrote {out / certs.CA_FILE}, {out / certs.CERT_FILE}, {out / certs.KEY_FILE}",
               err=True)
    click.echo(certs.ca_bundle(ca))
