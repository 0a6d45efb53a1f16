"""Bounds on what a request can make the webhook do and say: nesting, values, messages, warnings, logs.

The webhook's input is sized by whoever writes a RouteTable (or sends a request to the port), so
nothing the webhook answers or logs may grow with it: a value quoted in a message is cut to
`MAX_VALUE` characters, a message to `MAX_MESSAGE`, a denial lists `MAX_LISTED` problems and a
response carries `MAX_WARNINGS` warnings, each with a count of the rest ("and 2,990 more"). An
object that a rule cannot compare (nested past Python's recursion limit) is denied naming where it
nests deeper than `MAX_DEPTH`. Integers are shown without converting a huge one to text (that alone can raise).
All functions are pure and iterative, so no input can make them raise or recurse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Final

# Deeper than any real RouteTable (its schema nests about 30 levels): where a denial for an object the rules
# could not compare (a RecursionError) says it nests too deeply.
MAX_DEPTH: Final = 100
MAX_VALUE: Final = 80
# Routes in one RouteTable that the rules judge: twice the 10,000 answered within 2 s on 2 cores, well inside
# the webhooks' timeoutSeconds 5 (kube-apiserver's 3 MiB object limit admits about 20,000 typical routes; tiny
# ones fit many more).
MAX_ROUTES: Final = 20_000
MAX_MESSAGE: Final = 400
MAX_LISTED: Final = 20
MAX_WARNINGS: Final = 20
MAX_LOG_FIELD: Final = 1024
MAX_LOG_ITEMS: Final = 20
MAX_LOG_LINE: Final = 16 * 1024
# Integers with more digits than this are shown by size only.
MAX_DIGITS: Final = 30
ELLIPSIS: Final = "…"
_WORD: Final = re.compile(r"\S+")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """Where `value` nests more than `limit` objects and arrays deep (`spec.routes[0].options.a…`), or None."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth >= limit:
            return _path(path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, (*path, f"[{key}]" if isinstance(key, int) else str(key))))
    return None


def _path(parts: tuple[str, ...]) -> str:
    shown = [clip(p, 20) for p in parts[:6]]
    text = "".join(p if p.startswith("[") else "." + p for p in shown).lstrip(".")
    return text + (f".{ELLIPSIS}" if len(parts) > 6 else "")


def show_int(number: int) -> str:
    """`number` as text, or `a 4300-digit number` when it is too long to quote (or to convert)."""
    size = abs(number)
    if size < 10**MAX_DIGITS:
        return str(number)
    # log10 takes any int; the float may be off by one near a power of ten, which exact powers correct.
    digits = math.floor(math.log10(size)) + 1
    if 10 ** (digits - 1) > size:
        digits -= 1
    elif 10**digits <= size:
        digits += 1
    return f"a {digits}-digit number"


def show(value: Any, limit: int = MAX_VALUE) -> str:
    """A value as a message quotes it: `repr` for strings, at most `limit` characters."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return show_int(value)
    if isinstance(value, str):
        return repr(value[:limit]) if len(value) <= limit else repr(value[: limit - 1]) + ELLIPSIS
    if isinstance(value, (dict, list)):
        return f"an object of {len(value)} keys" if isinstance(value, dict) else f"a list of {len(value)} items"
    return clip(type(value).__name__, limit)


def show_numbers(values: Sequence[int | None], limit: int = 10) -> str:
    """Weights as messages show them (`70,30`, `-` for unset), the first `limit` of them and how many more."""
    shown = ",".join("-" if v is None else show_int(v) for v in values[:limit])
    return shown + (f",{ELLIPSIS} ({len(values)} in all)" if len(values) > limit else "")


def clip(text: str, limit: int = MAX_MESSAGE, word: int = MAX_VALUE) -> str:
    """`text` on one line, every word (a name, a path) cut to `word` characters, the whole to `limit`.

    Cutting words first keeps a message readable when one quoted value is huge: the rest of the
    message, which says what is wrong, survives. Only the kept part of a huge word is copied.
    """
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        length = end - start
        words.append(text[start:end] if length <= word else f"{text[start:start + word - 1]}{ELLIPSIS}({length} chars)")
        size += len(words[-1]) + 1
        if size > limit:
            break
    line = " ".join(words)
    return line if len(line) <= limit else line[: limit - 1] + ELLIPSIS


def capped(messages: Sequence[str], count: int, noun: str = "more") -> list[str]:
    """The first `count` messages, and in place of the rest one `and N more` (so at most `count + 1`)."""
    if len(messages) <= count:
        return list(messages)
    return [*messages[:count], f"and {len(messages) - count:,} {noun}"]


def bounded(value: Any, depth: int = 4) -> Any:
    """`value` cut down for a log line: strings to MAX_LOG_FIELD, lists to MAX_LOG_ITEMS, 4 levels deep."""
    if isinstance(value, str):
        return value if len(value) <= MAX_LOG_FIELD else value[: MAX_LOG_FIELD - 1] + ELLIPSIS
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else show_int(value)
    if depth <= 0:
        return show(value)
    if isinstance(value, dict):
        items = list(value.items())
        found = {str(k)[:MAX_VALUE]: bounded(v, depth - 1) for k, v in items[:MAX_LOG_ITEMS]}
        if len(items) > MAX_LOG_ITEMS:
            found[ELLIPSIS] = f"{len(items) - MAX_LOG_ITEMS} more"
        return found
    if isinstance(value, (list, tuple)):
        shown = [bounded(v, depth - 1) for v in value[:MAX_LOG_ITEMS]]
        return shown + ([f"and {len(value) - MAX_LOG_ITEMS} more"] if len(value) > MAX_LOG_ITEMS else [])
    return bounded(str(value), depth)
