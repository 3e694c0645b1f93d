"""Markdown tables with escaped cells (a ``|`` inside a cell would otherwise split it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["md_cell", "md_table"]


def md_cell(value: Any) -> str:
    """``value`` as one GitHub-flavoured Markdown table cell.

    ``|`` becomes ``\\|`` (also inside code spans, as GFM requires) and line breaks become
    spaces, so a genre list such as ``Crime|Thriller`` stays in its cell.
    """
    text = " ".join(str(value).split())
    return text.replace("\\|", "|").replace("|", "\\|")


def md_table(header: Sequence[Any], rows: Sequence[Sequence[Any]],
             align: Sequence[str] | None = None) -> list[str]:
    """The lines of a Markdown table; ``align`` per column: ``"left"`` or ``"right"``."""
    align = list(align) if align is not None else ["left"] * len(header)
    rule = ["---:" if a == "right" else "---" for a in align]
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(md_cell(c) for c in row) + " |")
    return lines
