"""Tables as kubectl prints them: left-aligned columns, `-` for an empty cell (`status` and `list`)."""

from __future__ import annotations


def columns(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns three spaces apart, as kubectl prints tables."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def dash(value: object) -> str:
    """A cell's text: `-` for None."""
    return "-" if value is None else str(value)
