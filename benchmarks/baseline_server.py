"""`canary-webhook serve` with one endpoint more, for baselines: `POST /allow` admits every review without deciding.

It is the shipped server built from the same parts (the command, gunicorn, the worker, the app's parsing,
metrics and log line), given the endpoint through `webhook.cli.serve.Embedding`, so that a benchmark can set
what the rules cost (/mutate, /validate) beside what the same stack costs without them (/allow). The shipped
console script has no such endpoint. Run it as `python benchmarks/baseline_server.py serve ARGS` (the
arguments of `canary-webhook serve`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from webhook.admission.decision import Context, Verdict
from webhook.cli.main import cli
from webhook.cli.serve import Embedding

SCRIPT = Path(__file__).resolve()


def allow(ctx: Context) -> Verdict:
    """Admit the review unchanged, deciding nothing (what parsing, metrics and logging alone cost)."""
    return Verdict(allowed=True, decision="allowed")


def command() -> list[str]:
    """The command line that runs this server with the current interpreter (then `serve` and its arguments)."""
    return [sys.executable, str(SCRIPT)]


if __name__ == "__main__":
    cli.main(obj=Embedding(endpoints={"allow": allow}), prog_name="canary-webhook")
