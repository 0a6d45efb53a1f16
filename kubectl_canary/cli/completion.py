"""Shell completion for `kubectl canary`, as the executable `kubectl_complete-canary`.

kubectl (1.26 and later) completes a plugin's words by running `kubectl_complete-<plugin>` from PATH
with the words so far and the one being completed (`kubectl_complete-canary shift -n ""`), and reads
Cobra's format back: one candidate a line (`value<TAB>description`), then `:<directive>`. The words
are completed by click's own shell completion (`click.shell_completion.ShellComplete`): it parses them,
finds the command and parameter being completed and asks that parameter. The `-n` option and the SERVICE
argument ask the store that the flags typed so far name (a cluster or a `--files` directory) for the
namespaces and for the services that have a RouteTable (`cli.candidates`); a store that cannot be
reached completes nothing.
"""

from __future__ import annotations

import sys

from click.shell_completion import ShellComplete

from kubectl_canary.cli.env import Env

# Cobra's ShellCompDirective bits (kubectl passes them on to the shell's completion script).
DEFAULT, NO_FILE_COMP, FILTER_DIRS = 0, 4, 16


def complete(args: list[str], env: Env | None = None) -> str:
    """Cobra's completion output for `kubectl canary ARGS`, whose last word is the one being completed."""
    from kubectl_canary.cli.main import cli

    words, incomplete = (args[:-1], args[-1]) if args else ([], "")
    completer = ShellComplete(cli, {"obj": env or Env()}, "kubectl canary", "_KUBECTL_CANARY_COMPLETE")
    items = completer.get_completions(words, incomplete)
    kinds = {item.type for item in items}
    if "dir" in kinds:
        return f":{FILTER_DIRS}\n"  # the shell lists directories itself
    if "file" in kinds:
        return f":{DEFAULT}\n"
    lines = [f"{item.value}\t{item.help.splitlines()[0]}" if item.help else str(item.value) for item in items]
    return "".join(f"{line}\n" for line in lines) + f":{NO_FILE_COMP}\n"


def main() -> None:
    sys.stdout.write(complete(sys.argv[1:]))
