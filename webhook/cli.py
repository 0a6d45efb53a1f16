"""The `canary-webhook` console script (placeholder until the webhook lands)."""

import sys


def main() -> None:
    sys.exit("canary-webhook: not built yet")
