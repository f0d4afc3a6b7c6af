"""Text cut to terminal cells for the panes: whole, or marked where it was cut."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: whole, or cut with "…" (never cut unmarked)."""
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    return set_cell_size(text, width - 1) + ELLIPSIS
